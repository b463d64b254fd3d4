"""``perpetual`` end to end: outputs, round trips, and one clear line for every bad input."""

import json
import subprocess
import sys

import imageio
import numpy as np
import pytest
import torch
from PIL import Image

from perpetual.cli import main
from perpetual.config import GuardSettings
from perpetual.io.camera_files import load_camera_path
from perpetual.io.images import load_image
from tests.conftest import model_free


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "perpetual.cli", *args], capture_output=True, text=True, timeout=300)


def read_video(path) -> list:
    return [frame for frame in imageio.get_reader(str(path))]


def test_fly_writes_mp4_poses_and_run_files(tmp_path):
    out = tmp_path / "flight.mp4"
    # The guard off: the poses written are the path's own, wherever its hills lie on this CPU's world.
    assert main(["fly", "--frames", "12", "--size", "64x48", "--out", str(out), "--depth-video", "--save-frames",
                 "--set", "guard.on_clearance=off"]) == 0
    frames = read_video(out)
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3)
    assert len(read_video(tmp_path / "flight.depth.mp4")) == 12
    assert len(list((tmp_path / "flight.frames").glob("*.png"))) == 12
    flown = load_camera_path(str(tmp_path / "flight.poses.json")).path
    planned = load_camera_path("forward", frames=12, width=64, height=48).path
    assert torch.allclose(flown.poses, planned.poses, atol=1e-9)
    run = json.loads((tmp_path / "flight.run.json").read_text())
    assert run["frames"] == 12 and run["seed"] == 0 and "torch" in run["versions"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["flight.mp4", "flight.depth.mp4", "flight.frames", "flight.poses.json", "flight.run.json"]
    )


@pytest.mark.parametrize("frames, fps", [(4, 30), (30, 30), (25, 12)])
def test_a_joined_video_lasts_exactly_its_frames(tmp_path, frames, fps):
    """Flights are written in segments (one per checkpoint) and joined: the file holds every frame and its
    container says frames / fps, as a player reads it."""
    import imageio_ffmpeg

    out = tmp_path / "f.mp4"
    assert main(["fly", "--frames", str(frames), "--fps", str(fps), "--size", "64x48", "--out", str(out), "--depth-video"]) == 0
    for video in (out, tmp_path / "f.depth.mp4"):
        reader = imageio_ffmpeg.read_frames(str(video))
        meta = next(reader)
        decoded = sum(1 for _ in reader)
        assert decoded == frames and meta["fps"] == fps
        assert abs(meta["duration"] - frames / fps) <= 0.005, (meta["duration"], frames / fps)  # ffmpeg prints 2 decimals


def test_fly_from_an_image_file(tmp_path):
    rgba = (np.random.default_rng(0).random((50, 90, 4)) * 255).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "photo.png")
    out = tmp_path / "o.mp4"
    assert main(["fly", str(tmp_path / "photo.png"), "--frames", "6", "--size", "32x32", "--out", str(out), "--trajectory", "orbit"]) == 0
    assert len(read_video(out)) == 6


def test_world_ground_truth_video(tmp_path):
    out = tmp_path / "gt.mp4"
    assert main(["world", "--frames", "5", "--size", "32x32", "--out", str(out), "--depth-video"]) == 0
    assert len(read_video(out)) == 5 and (tmp_path / "gt.poses.json").exists()


def test_image_loading_modes(tmp_path):
    gray16 = (np.arange(40 * 60, dtype=np.uint16).reshape(40, 60) * 27).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    img = load_image(tmp_path / "g16.png", 30, 20)
    assert img.shape == (1, 3, 20, 30) and 0.0 <= img.min() and img.max() <= 1.0 and img.max() > 0.5
    Image.fromarray(np.zeros((10, 10, 4), np.uint8), "RGBA").save(tmp_path / "clear.png")
    assert torch.allclose(load_image(tmp_path / "clear.png", 10, 10), torch.ones(1, 3, 10, 10))  # over white
    wide = np.zeros((10, 40, 3), np.uint8)
    wide[:, 15:25] = 255  # a white band in the middle survives the centre crop
    assert load_image_from_array(tmp_path, wide, 10, 10).mean() > 0.9


def load_image_from_array(folder, array, w, h):
    Image.fromarray(array).save(folder / "a.png")
    return load_image(folder / "a.png", w, h)


def bad_inputs(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (tmp_path / "notes.jpg").write_text("this is not an image")
    Image.new("1", (10000, 9000)).save(tmp_path / "huge.png")
    (tmp_path / "bad-path.json").write_text('{"perpetual_camera_path": 1, "generator": "forward", "fov": 500}')
    out = str(tmp_path / "o.mp4")
    return {
        "missing image": (["fly", str(tmp_path / "nope.png"), "--out", out], "does not exist"),
        "empty image": (["fly", str(tmp_path / "empty.png"), "--out", out], "empty"),
        "corrupt image": (["fly", str(tmp_path / "corrupt.png"), "--out", out], "cannot read image"),
        "wrong type": (["fly", str(tmp_path / "notes.jpg"), "--out", out], "cannot read image"),
        "huge image": (["fly", str(tmp_path / "huge.png"), "--out", out], "downscale"),
        "unknown trajectory": (["fly", "--trajectory", "warp-speed", "--out", out], "not a preset"),
        "bad trajectory file": (["fly", "--trajectory", str(tmp_path / "bad-path.json"), "--out", out], "fov"),
        "unwritable output": (["fly", "--frames", "3", "--size", "32x32", "--out", str(tmp_path / "no" / "dir" / "o.mp4")], "does not exist"),
        "not an mp4": (["fly", "--frames", "3", "--out", str(tmp_path / "o.gif")], ".mp4"),
        "unknown config": (["fly", "--config", "turbo-9000", "--out", out], "unknown config"),
        "unknown device": (["fly", "--device", "gpu0", "--out", out], "unknown device"),
        "absent device": (["fly", "--device", f"cuda:{torch.cuda.device_count()}", "--out", out], "not available"),
    }


@pytest.mark.parametrize("case", ["missing image", "empty image", "corrupt image", "wrong type", "huge image",
                                  "unknown trajectory", "bad trajectory file", "unwritable output", "not an mp4", "unknown config",
                                  "unknown device", "absent device"])
def test_bad_input_gives_one_line_exit_2_and_no_output(tmp_path, case, capsys):
    args, message = bad_inputs(tmp_path)[case]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".*part*"))


@pytest.mark.parametrize("args", [["fly", "--size", "63x64"], ["fly", "--frames", "0"], ["fly", "--fps", "-1"]])
def test_impossible_settings_are_usage_errors(args):
    result = run_cli(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "error:" in result.stderr


def fly_into(out, path, *, stop_at=None, resume=False, detail=0.0, wall=False):
    from perpetual.config import DriftSettings
    from perpetual.engine import Flythrough
    from perpetual.io.outputs import RunOutputs

    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with RunOutputs(out, path, depth_video=True, save_frames=True, resume=resume, checkpoint_every=8, run_info={"seed": 1}) as sink:
        fly = Flythrough(model_free(drift=DriftSettings(detail=detail)))
        disparity = torch.ones(1, 1, 32, 32) if wall else None  # a wall across the view: the clearance guard slows the path
        for frame in fly.run(image, path, disparity, seed=1, resume=sink.resumed_from):
            sink.add(frame)
            if frame.index == stop_at:
                raise KeyboardInterrupt


@pytest.mark.parametrize("detail, wall", [(0.0, False), (1.0, False), (0.0, True)], ids=["plain", "detail-restored", "slowed-by-a-wall"])
def test_interrupted_run_leaves_nothing_under_the_output_names_and_resumes_exactly(tmp_path, detail, wall):
    from perpetual.paths import forward

    path = forward(40, speed=0.05 if wall else 0.03).with_size(32, 32)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fly_into(tmp_path / "a" / "o.mp4", path, detail=detail, wall=wall)
    with pytest.raises(KeyboardInterrupt):
        fly_into(tmp_path / "b" / "o.mp4", path, stop_at=27, detail=detail, wall=wall)
    assert [p.name for p in (tmp_path / "b").iterdir()] == [".o.mp4.partial"]  # only the resumable work
    with pytest.raises(ValueError, match="--resume"):
        fly_into(tmp_path / "b" / "o.mp4", path)  # never silently overwritten
    fly_into(tmp_path / "b" / "o.mp4", path, resume=True, detail=detail, wall=wall)
    runs = [json.loads((tmp_path / x / "o.run.json").read_text()) for x in "ab"]
    assert runs[0]["health"] == runs[1]["health"] and runs[0]["per_frame"] == runs[1]["per_frame"]
    assert runs[0]["health"]["path_progress"] < (30 if wall else 40)  # the wall's flight ends well short of the path's end
    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert names == ["o.depth.mp4", "o.frames", "o.mp4", "o.poses.json", "o.run.json"]
    assert len(read_video(tmp_path / "b" / "o.mp4")) == 40 and len(read_video(tmp_path / "b" / "o.depth.mp4")) == 40
    for a in sorted((tmp_path / "a" / "o.frames").glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(tmp_path / "b" / "o.frames" / a.name)))
    assert json.loads((tmp_path / "a" / "o.poses.json").read_text()) == json.loads((tmp_path / "b" / "o.poses.json").read_text())
    with pytest.raises(ValueError, match="nothing to resume"):
        fly_into(tmp_path / "b" / "o.mp4", path, resume=True)


@pytest.mark.parametrize("fit", ["false", "true"])
def test_a_flight_paced_by_magnification_resumes_exactly(tmp_path, fit):
    """The guard paces each step by the last frame's magnified share: a resumed flight must
    continue from the checkpoint's share, not from none (it flew on too fast before); and a
    fitted path (``guard.fit``) at the speed fitted to frame 0, not at the path's own."""
    import perpetual

    settings = dict(config="classical", seed=4, frames=110, size=(64, 48), save_frames=True, progress=False,
                    overrides=[f"guard.fit={fit}"])
    whole = perpetual.fly(None, "forward", tmp_path / "whole.mp4", **settings)
    # The cases under test: pacing by magnification; a path fitted to under its own length.
    assert any(("magnified" if fit == "false" else "fitted to what the start image holds") in note for note in whole.notes)

    def interrupt(frame):
        if frame.index == 90:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        perpetual.fly(None, "forward", tmp_path / "cut.mp4", on_frame=interrupt, **settings)
    resumed = perpetual.fly(None, "forward", tmp_path / "cut.mp4", resume=True, **settings)
    assert resumed.made < 110
    for a in sorted((tmp_path / "whole.frames").glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(tmp_path / "cut.frames" / a.name))), a.name
    assert [json.loads((tmp_path / f"{x}.run.json").read_text())["health"] for x in ("whole", "cut")] == [
        json.loads((tmp_path / "whole.run.json").read_text())["health"]] * 2


def test_a_flights_poses_are_not_fitted_again(tmp_path):
    """A generated path is fitted to frame 0 (``guard.fit``); the poses it was flown at, given back
    as a camera path file, are flown at their own speed: not fitted a second time. (Pacing by
    magnification, which retimes any path in the default ``"slow"`` mode, paces them again where
    the first flight was paced.)"""
    import perpetual

    settings = dict(config="classical", seed=4, size=(64, 48), progress=False)
    first = perpetual.fly(None, "forward", tmp_path / "first.mp4", frames=110, **settings)
    assert any("fitted to what the start image holds" in note for note in first.notes)  # the case under test
    again = perpetual.fly(None, tmp_path / "first.poses.json", tmp_path / "again.mp4", **settings)
    assert not any("fitted" in note for note in again.notes)
    flown = [load_camera_path(str(tmp_path / f"{x}.poses.json")).path.poses for x in ("first", "again")]
    shares = json.loads((tmp_path / "first.run.json").read_text())["per_frame"]["magnified_share"]
    half = 0.5 * GuardSettings().max_magnified  # pace() is below 1 past it
    paced = 1 + next((i for i, share in enumerate(shares) if share > half), len(shares) - 1)
    assert paced > 50 and torch.allclose(flown[0][:paced], flown[1][:paced], atol=1e-9)


def test_resume_refuses_other_settings(tmp_path):
    from perpetual.paths import forward

    with pytest.raises(KeyboardInterrupt):
        fly_into(tmp_path / "o.mp4", forward(30).with_size(32, 32), stop_at=20)
    with pytest.raises(ValueError, match="other settings"):
        fly_into(tmp_path / "o.mp4", forward(30, speed=0.05).with_size(32, 32), resume=True)


def test_paths_command(tmp_path, capsys):
    assert main(["paths"]) == 0 and "orbit" in capsys.readouterr().out
    assert main(["paths", "show", "meander", "--out", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_a_finished_run_counts_each_keyframe_once_when_its_last_frame_is_not_one(tmp_path):
    """The frames after the last checkpoint are closed as a segment at the end; their keyframes
    are counted once, in the summary (``RunOutputs.keyframes``) as in run.json."""
    from perpetual.engine import Flythrough
    from perpetual.io.outputs import RunOutputs
    from perpetual.paths import forward

    path = forward(24, speed=0.03).with_size(32, 32)
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    frames = []
    with RunOutputs(tmp_path / "o.mp4", path, checkpoint_every=100) as sink:
        for frame in Flythrough(model_free()).run(image, path, seed=1):
            sink.add(frame)
            frames.append(frame)
    made = sum(f.is_keyframe for f in frames)
    assert not frames[-1].is_keyframe and sum(f.is_keyframe for f in frames[1:]) > 0
    assert sink.keyframes == made == json.loads((tmp_path / "o.run.json").read_text())["keyframes"]
    assert sink.frames == len(path)


def test_autopilot_flights_resume_exactly(tmp_path):
    from perpetual.engine import Flythrough
    from perpetual.io.outputs import RunOutputs
    from perpetual.paths import forward
    from perpetual.paths.autopilot import Autopilot
    from perpetual.world import World, WorldSettings

    path = forward(30).with_size(32, 32)
    _, view = World(WorldSettings(seed=1, resolution=256)).start_view(32, 32)

    def fly(folder, stop_at=None, resume=False):
        pilot = Autopilot()
        sink = RunOutputs(folder / "o.mp4", path, save_frames=True, resume=resume, checkpoint_every=5,
                          extra_state=lambda: {"autopilot": pilot.state()})
        with sink:
            if sink.resumed_from is not None:
                pilot.load(sink.resumed_extra["autopilot"])
            for frame in Flythrough().run(view.image, path, view.disparity, resume=sink.resumed_from, autopilot=pilot):
                sink.add(frame)
                if frame.index == stop_at:
                    raise KeyboardInterrupt

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fly(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        fly(tmp_path / "b", stop_at=17)
    fly(tmp_path / "b", resume=True)
    for a in sorted((tmp_path / "a" / "o.frames").glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(tmp_path / "b" / "o.frames" / a.name)))
    assert json.loads((tmp_path / "a" / "o.poses.json").read_text()) == json.loads((tmp_path / "b" / "o.poses.json").read_text())


def test_no_command_is_a_usage_error_and_every_help_shows_examples_that_parse(capsys):
    import shlex

    from perpetual.cli import build_parser

    assert main([]) == 2 and "COMMAND" in capsys.readouterr().err
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        help_text = sub.format_help()
        assert "examples:" in help_text, name
        for line in help_text.split("examples:")[1].strip().splitlines():
            parser.parse_args(shlex.split(line.split("   #")[0].strip().removeprefix("perpetual ")))  # exits on a bad example


def test_progress_shows_in_a_log(tmp_path, capsys):
    """Piped (not a terminal), a run says how far it is in plain lines, the last at 100%."""
    assert main(["fly", "--frames", "6", "--size", "64x48", "--out", str(tmp_path / "f.mp4")]) == 0
    err = capsys.readouterr().err
    assert "fly: 6/6 frames (100%)" in err and "\r" not in err


def test_depth_colours_are_the_turbo_table():
    from perpetual.io.turbo import TURBO
    from perpetual.io.video import colourise_disparity

    d = torch.linspace(0, 1, 256).view(1, 1, 1, 256)
    colours = colourise_disparity(d, near=1.0)[0, :, 0].T
    assert torch.allclose(colours, TURBO, atol=1e-6)  # each entry exactly (the polynomial fit was up to 32/255 off)
    assert torch.allclose(TURBO[0], torch.tensor([0.18995, 0.07176, 0.23217])) and torch.allclose(TURBO[255], torch.tensor([0.4796, 0.01583, 0.01055]))
    half = colourise_disparity(torch.full((1, 1, 1, 1), 0.5 / 255), near=1.0)[0, :, 0, 0]
    assert torch.allclose(half, (TURBO[0] + TURBO[1]) / 2, atol=1e-6)  # linear between entries


def test_a_photo_taken_sideways_is_read_upright(tmp_path):
    """A camera held sideways stores landscape pixels with EXIF orientation 6 (rotate 90° clockwise to view)."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :10] = 255  # the stored left edge: the viewed top
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "side.jpg", exif=exif, quality=95)
    img = load_image(tmp_path / "side.jpg", 20, 40)  # viewed: 20 wide, 40 tall
    assert img.shape == (1, 3, 40, 20)
    assert img[0, :, :8].mean() > 0.9 and img[0, :, 12:].mean() < 0.1  # white at the top, as a viewer shows it


@pytest.mark.parametrize("command", ["fly", "world"])
def test_a_replay_never_writes_over_the_poses_it_reads(tmp_path, command, capsys):
    out = tmp_path / "flight.mp4"
    assert main(["fly", "--frames", "4", "--size", "64x48", "--out", str(out)]) == 0
    poses = tmp_path / "flight.poses.json"
    before = poses.read_bytes()
    capsys.readouterr()
    assert main([command, "--trajectory", str(poses), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "would overwrite the input" in err and len(err.strip().splitlines()) == 1
    assert poses.read_bytes() == before and not (tmp_path / ".flight.mp4.partial").exists()
    assert main([command, "--trajectory", str(poses), "--out", str(tmp_path / "again.mp4")]) == 0  # another name is fine


def test_a_long_strip_of_an_image_is_cropped_before_it_is_scaled(tmp_path):
    """1 x 100,000 pixels scaled to cover 256 x 256 would be 256 x 25.6 M (26 GB); the centre is cropped first."""
    strip = np.zeros((1, 100_000, 3), np.uint8)
    strip[0, 49_990:50_010] = 255  # white at the centre, black elsewhere
    Image.fromarray(strip).save(tmp_path / "strip.png")
    img = load_image(tmp_path / "strip.png", 256, 256)
    assert img.shape == (1, 3, 256, 256) and img.min() > 0.99  # the centre, covering the frame
    wide = load_image(tmp_path / "strip.png", 64, 32)
    assert wide.shape == (1, 3, 32, 64) and wide.min() > 0.99


@pytest.mark.parametrize("args, message", [
    (["--frames", "10000000000"], "1 to 1,000,000"), (["--fps", "1e-300"], "fps"), (["--fov", "400"], "field of view"),
    (["--trajectory", "FILE", "--size", "64x64"], "1e+09 frames"), (["--trajectory", "WIDE"], "frame size"),
    (["--trajectory", "KEYS"], "3e+09 frames"),
])
def test_sizes_are_checked_before_anything_is_allocated(tmp_path, capsys, args, message):
    files = {"FILE": {"perpetual_camera_path": 1, "generator": "forward", "frames": 1e9},
             "WIDE": {"perpetual_camera_path": 1, "generator": "forward", "width": 1_000_000_000},
             "KEYS": {"perpetual_camera_path": 1, "fps": 30, "waypoints": [{"time": 0, "position": [0, 0, 0]},
                                                                          {"time": 1e8, "position": [0, 0, 1]}]}}
    for name, data in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    args = [str(tmp_path / f"{a}.json") if a in files else a for a in args]
    assert main(["fly", *args, "--out", str(tmp_path / "f.mp4")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.json" for n in files)
