"""The hostile-input battery: every subcommand with bad or odd inputs gets one clear line and exit
status 2, and leaves nothing behind; outputs never overwrite inputs; damaged files name
themselves. Each case builds its inputs in a fresh folder and gives the argv to run there."""

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from perpetual.cli import main

SMALL = ["--frames", "4", "--size", "32x32"]


def _photo(d):
    Image.new("RGB", (40, 30), (90, 140, 200)).save(d / "photo.png")
    return str(d / "photo.png")


def _photo_named(d, name):
    Image.new("RGB", (40, 30), (90, 140, 200)).save(d / name, format="PNG")
    return str(d / name)


def _text(d, name="notes.png", text="not an image"):
    (d / name).write_text(text)
    return str(d / name)


def _path_file(d, data, name="path.json"):
    (d / name).write_text(json.dumps(data))
    return str(d / name)


def _waypoints(position):
    return {"perpetual_camera_path": 1, "waypoints": [{"time": 0, "position": [0, 0, 0]}, {"time": 1, "position": position}]}


WEIGHTS = Path(__file__).resolve().parents[1] / "perpetual" / "weights"


def _model(d, kind, damage):
    """A copy of an embedded model folder (``depth`` or ``inpainter``) with ``damage`` done to it."""
    folder = d / f"{kind}-{damage}"
    shutil.copytree(WEIGHTS / kind, folder)
    weights = next(folder.glob("*.safetensors"))
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garbage":
        weights.write_text("garbage")
    elif damage == "pickle":
        weights.unlink()
        torch.save({"w": torch.zeros(1)}, folder / "diffusion_pytorch_model.bin")
    elif damage == "remote-code":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModelForDepthEstimation": "modeling_x.X"}}))
        (folder / "modeling_x.py").write_text("raise SystemExit('custom code ran')\n")
    setting = "depth" if kind == "depth" else "inpainter"
    return ["--set", f"models.{setting}={folder}"]


def _damaged(d, folder, name, text="garbage", *more):
    """``d/folder`` holding ``name`` (and each of ``more``) with ``text`` in it: a damaged file where
    perpetual expects one it wrote."""
    for each in (name, *more):
        (d / folder / each).parent.mkdir(parents=True, exist_ok=True)
        (d / folder / each).write_text(text)
    return str(d / folder)


CASES = {
    # fly: inputs
    "fly-missing-image": lambda d: ["fly", str(d / "nope.jpg"), *SMALL, "--out", str(d / "o.mp4")],
    "fly-text-as-image": lambda d: ["fly", _text(d), *SMALL, "--out", str(d / "o.mp4")],
    "fly-empty-image": lambda d: ["fly", _text(d, "empty.png", ""), *SMALL, "--out", str(d / "o.mp4")],
    "fly-out-is-the-image": lambda d: ["fly", _photo_named(d, "photo.mp4"), *SMALL, "--out", str(d / "photo.mp4")],
    "fly-out-not-mp4": lambda d: ["fly", *SMALL, "--out", str(d / "o.avi")],
    "fly-out-folder-missing": lambda d: ["fly", *SMALL, "--out", str(d / "no" / "o.mp4")],
    "fly-out-is-a-folder": lambda d: ["fly", *SMALL, "--out", str(d)],
    # fly: sizes, counts and settings before anything is allocated
    "fly-ten-billion-frames": lambda d: ["fly", "--frames", "10000000000", "--out", str(d / "o.mp4")],
    "fly-tiny-fps": lambda d: ["fly", *SMALL, "--fps", "1e-300", "--out", str(d / "o.mp4")],
    "fly-odd-size": lambda d: ["fly", "--frames", "4", "--size", "33x31", "--out", str(d / "o.mp4")],
    "fly-huge-size": lambda d: ["fly", "--frames", "4", "--size", "100000x100000", "--out", str(d / "o.mp4")],
    "fly-fov-180": lambda d: ["fly", *SMALL, "--fov", "180", "--out", str(d / "o.mp4")],
    "fly-seed-overflow": lambda d: ["fly", *SMALL, "--seed", "99999999999999999999999", "--out", str(d / "o.mp4")],
    "fly-seed-negative": lambda d: ["fly", *SMALL, "--seed", "-1", "--out", str(d / "o.mp4")],
    "fly-device-xpu": lambda d: ["fly", *SMALL, "--device", "xpu", "--out", str(d / "o.mp4")],
    "fly-device-meta": lambda d: ["fly", *SMALL, "--device", "meta", "--out", str(d / "o.mp4")],
    "fly-device-nonsense": lambda d: ["fly", *SMALL, "--device", "gpu7", "--out", str(d / "o.mp4")],
    "fly-set-nan": lambda d: ["fly", *SMALL, "--set", "drift.colour_match=nan", "--out", str(d / "o.mp4")],
    "fly-set-negative-feather": lambda d: ["fly", *SMALL, "--set", "engine.seam_feather=-1", "--out", str(d / "o.mp4")],
    "fly-set-huge-depth-resolution": lambda d: ["fly", *SMALL, "--set", "models.depth_resolution=100000", "--out", str(d / "o.mp4")],
    "fly-set-unknown-key": lambda d: ["fly", *SMALL, "--set", "engine.warp_speed=9", "--out", str(d / "o.mp4")],
    "fly-set-no-equals": lambda d: ["fly", *SMALL, "--set", "drift.detail", "--out", str(d / "o.mp4")],
    "fly-set-bad-clearance-mode": lambda d: ["fly", *SMALL, "--set", "guard.on_clearance=sideways", "--out", str(d / "o.mp4")],
    "fly-set-max-magnified-2": lambda d: ["fly", *SMALL, "--set", "guard.max_magnified=2", "--out", str(d / "o.mp4")],
    "fly-set-setting-in-its-older-section": lambda d: ["fly", *SMALL, "--set", "engine.detail=0", "--out", str(d / "o.mp4")],
    "fly-config-with-older-sections": lambda d: ["fly", *SMALL, "--config", _text(d, "c.toml", "[engine]\nclearance = 0.2\n"),
                                                 "--out", str(d / "o.mp4")],
    "fly-missing-config": lambda d: ["fly", *SMALL, "--config", "no-such-preset", "--out", str(d / "o.mp4")],
    "fly-config-not-toml": lambda d: ["fly", *SMALL, "--config", _text(d, "c.toml", "engine = [[["), "--out", str(d / "o.mp4")],
    "fly-nothing-to-resume": lambda d: ["fly", *SMALL, "--resume", "--out", str(d / "o.mp4")],
    # fly: malformed values inside well-formed path files
    "fly-missing-trajectory": lambda d: ["fly", *SMALL, "--trajectory", str(d / "nope.json"), "--out", str(d / "o.mp4")],
    "fly-trajectory-not-json": lambda d: ["fly", *SMALL, "--trajectory", _text(d, "t.json", "{"), "--out", str(d / "o.mp4")],
    "fly-waypoint-position-string": lambda d: ["fly", *SMALL, "--trajectory", _path_file(d, _waypoints("far")), "--out", str(d / "o.mp4")],
    "fly-waypoint-position-short": lambda d: ["fly", *SMALL, "--trajectory", _path_file(d, _waypoints([1, 2])), "--out", str(d / "o.mp4")],
    "fly-empty-pose-list": lambda d: ["fly", *SMALL, "--trajectory", _path_file(d, {"camera_path": []}), "--out", str(d / "o.mp4")],
    "fly-sky-band-number": lambda d: ["fly", *SMALL, "--trajectory", _path_file(d, {"perpetual_camera_path": 1, "generator": "autopilot",
                                                                                   "params": {"sky_band": 0.3}}), "--out", str(d / "o.mp4")],
    "fly-frames-1e9-in-file": lambda d: ["fly", "--trajectory", _path_file(d, {"perpetual_camera_path": 1, "generator": "forward",
                                                                              "frames": 1e9}), "--out", str(d / "o.mp4")],
    "fly-width-1e9-in-file": lambda d: ["fly", "--frames", "4", "--trajectory", _path_file(d, {"perpetual_camera_path": 1, "generator": "forward",
                                                                                               "width": 1e9}), "--out", str(d / "o.mp4")],
    "fly-unknown-generator": lambda d: ["fly", *SMALL, "--trajectory", _path_file(d, {"perpetual_camera_path": 1, "generator": "warp"}),
                                        "--out", str(d / "o.mp4")],
    "fly-sidecar-onto-trajectory": lambda d: ["fly", *SMALL, "--trajectory", _path_file(d, {"perpetual_camera_path": 1, "generator": "forward"},
                                                                                        name="o.poses.json"), "--out", str(d / "o.mp4")],
    # damaged, pickled or code-carrying model folders
    "fly-depth-truncated-safetensors": lambda d: ["fly", *SMALL, *_model(d, "depth", "truncated"), "--out", str(d / "o.mp4")],
    "fly-inpainter-garbage-safetensors": lambda d: ["fly", *SMALL, *_model(d, "inpainter", "garbage"), "--out", str(d / "o.mp4")],
    "fly-inpainter-pickle-only": lambda d: ["fly", *SMALL, *_model(d, "inpainter", "pickle"), "--out", str(d / "o.mp4")],
    "fly-depth-remote-code": lambda d: ["fly", *SMALL, *_model(d, "depth", "remote-code"), "--out", str(d / "o.mp4")],
    "fly-depth-folder-missing": lambda d: ["fly", *SMALL, "--set", f"models.depth={d / 'nothing'}", "--out", str(d / "o.mp4")],
    # the other subcommands
    "world-zero-frames": lambda d: ["world", "--frames", "0", "--out", str(d / "o.mp4")],
    "world-underground": lambda d: ["world", "--frames", "400", "--size", "32x32", "--out", str(d / "o.mp4")],
    "paths-unknown": lambda d: ["paths", "show", "no-such-path"],
    "paths-show-without-name": lambda d: ["paths", "show"],
    "paths-out-is-the-input": lambda d: ["paths", "show", _path_file(d, {"perpetual_camera_path": 1, "generator": "orbit"}, name="p.png"),
                                         "--out", str(d / "p.png")],
    "paths-out-not-png": lambda d: ["paths", "show", "orbit", "--out", str(d / "orbit.json")],
    "eval-photo-text-image": lambda d: ["eval", "photo", _text(d), "--frames", "4", "--size", "32x32"],
    "eval-photo-sheets-folder-missing": lambda d: ["eval", "photo", _photo(d), "--contact-sheets", str(d / "missing")],
    "eval-flight-json-folder-missing": lambda d: ["eval", "flight", "--frames", "4", "--json", str(d / "no" / "r.json")],
    "train-unknown-model": lambda d: ["train", "nothing"],
    "train-setting-of-the-other-model": lambda d: ["train", "depth", "--crop", "32", "--out", str(d / "runs")],
    "train-damaged-pairs": lambda d: ["train", "depth", "--steps", "1", "--pairs", "4", "--size", "28", "--out",
                                      _damaged(d, "run", "pairs-4-28.safetensors")],
    "train-damaged-checkpoint": lambda d: ["train", "depth", "--steps", "1", "--pairs", "4", "--size", "28", "--out",
                                           _damaged(d, "run", "checkpoint/state.json", '{"step": 1}', "checkpoint/model/config.json")],
    "fly-ply-not-ply": lambda d: ["fly", *SMALL, "--out", str(d / "o.mp4"), "--ply", str(d / "scene.obj")],
    "fly-ply-folder-missing": lambda d: ["fly", *SMALL, "--out", str(d / "o.mp4"), "--ply", str(d / "no" / "scene.ply")],
    "fly-ply-is-the-input": lambda d: ["fly", _photo_named(d, "p.ply"), *SMALL, "--out", str(d / "o.mp4"), "--ply", str(d / "p.ply")],
    # batch: the jobs file and the options are checked before any job runs or any folder is made
    "batch-missing-jobs": lambda d: ["batch", str(d / "nope.jsonl"), "--out", str(d / "runs")],
    "batch-jobs-not-json": lambda d: ["batch", _text(d, "jobs.jsonl", "not json"), "--out", str(d / "runs")],
    "batch-jobs-not-toml": lambda d: ["batch", _text(d, "jobs.toml", "[[job]\nname ="), "--out", str(d / "runs")],
    "batch-jobs-other-format": lambda d: ["batch", _text(d, "jobs.csv", "name,seed\na,1\n"), "--out", str(d / "runs")],
    "batch-unknown-key": lambda d: ["batch", _text(d, "jobs.jsonl", '{"name": "a", "colour": "red"}'), "--out", str(d / "runs")],
    "batch-two-jobs-one-name": lambda d: ["batch", _text(d, "jobs.jsonl", '{"name": "a"}\n{"name": "a", "seed": 2}'), "--out", str(d / "runs")],
    "batch-name-escapes-out": lambda d: ["batch", _text(d, "jobs.jsonl", '{"name": "../a"}'), "--out", str(d / "runs")],
    "batch-out-is-a-file": lambda d: ["batch", _text(d, "jobs.jsonl", '{"name": "a"}'), "--out", _text(d, "runs", "x")],
    "batch-no-workers": lambda d: ["batch", _text(d, "jobs.jsonl", '{"name": "a"}'), "--out", str(d / "runs"), "--workers", "0"],
    "batch-cpus-with-address": lambda d: ["batch", _text(d, "jobs.jsonl", '{"name": "a"}'), "--out", str(d / "runs"),
                                          "--address", "auto", "--cpus", "2"],
    "studio-unknown-config": lambda d: ["studio", "--config", "no-such-preset", "--workdir", str(d / "work")],
    "studio-port-out-of-range": lambda d: ["studio", "--port", "70000", "--workdir", str(d / "work")],
    "studio-workdir-is-a-file": lambda d: ["studio", "--workdir", _text(d, "work", "x")],
    "download-unknown-config": lambda d: ["download", "--check", "no-such-preset"],
    "config-unknown": lambda d: ["config", "no-such-preset"],
}


def _files(d):
    return sorted(p.relative_to(d) for p in d.rglob("*"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_gets_one_line_exit_2_and_leaves_nothing(case, tmp_path, capsys):
    argv = CASES[case](tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own refusals: usage, then one error line
        code = exit.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (case, err)
    assert err and "Traceback" not in "\n".join(err) and err[-1].startswith("perpetual") and ": error: " in err[-1], err
    assert len(err[-1]) < 400
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert after == before, f"{case} changed {sorted(set(after) ^ set(before))}"  # nothing written, nothing overwritten


def _interrupted(d, monkeypatch):
    """A fly run into ``d/o.mp4`` stopped by Ctrl-C after its first checkpoint; the argv to resume it."""
    import perpetual.io.outputs as outputs

    argv = ["fly", "--frames", "90", "--size", "32x32", "--config", "classical", "--out", str(d / "o.mp4")]
    real = outputs.RunOutputs.checkpoint
    calls = []

    def stop_after_two(self, frame):
        real(self, frame)
        calls.append(frame.index)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(outputs.RunOutputs, "checkpoint", stop_after_two)
    assert main(argv) == 130
    monkeypatch.setattr(outputs.RunOutputs, "checkpoint", real)
    return argv + ["--resume"], d / ".o.mp4.partial"


def test_ctrl_c_says_to_resume_only_where_it_left_a_run_to_resume(tmp_path, capsys, monkeypatch):
    """Stopped after a checkpoint, a run says to add --resume; stopped before its first (while
    the models load or frame 0 is fitted), nothing is left to resume, and it says to run again."""
    import perpetual.io.outputs as outputs

    (tmp_path / "a").mkdir()
    argv, work = _interrupted(tmp_path / "a", monkeypatch)
    assert work.exists() and "--resume to continue" in capsys.readouterr().err

    def stop(self, frame):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.RunOutputs, "checkpoint", stop)
    (tmp_path / "b").mkdir()
    assert main(["fly", "--frames", "4", "--size", "32x32", "--config", "classical", "--out", str(tmp_path / "b" / "o.mp4")]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing was written" in err[0] and "--resume" not in err[0], err
    assert list((tmp_path / "b").iterdir()) == []


@pytest.mark.parametrize("damage", ["state-not-json", "state-frames-missing", "keyframe-truncated", "segment-missing"])
def test_a_damaged_resume_state_is_named_in_one_line_and_never_ends_with_frames_missing(damage, tmp_path, capsys, monkeypatch):
    argv, work = _interrupted(tmp_path, monkeypatch)
    state = json.loads((work / "state.json").read_text())
    if damage == "state-not-json":
        (work / "state.json").write_text("{\"signature\": ")
    elif damage == "state-frames-missing":
        state["done"] += 7
        (work / "state.json").write_text(json.dumps(state))
    elif damage == "keyframe-truncated":
        data = (work / "keyframe.safetensors").read_bytes()
        (work / "keyframe.safetensors").write_bytes(data[: len(data) // 2])
    else:
        os.remove(work / "rgb-00001.mp4")
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged" in err[0], err
    assert not (tmp_path / "o.mp4").exists()


def test_a_second_run_on_an_output_being_written_is_locked_out(tmp_path):
    from perpetual.io.outputs import RunOutputs
    from perpetual.paths import forward

    path = forward(4).with_size(32, 32)
    with RunOutputs(tmp_path / "o.mp4", path, run_info={"seed": 0}) as first:
        first.checkpoint_every = 1
        result = {}

        def second():
            try:
                RunOutputs(tmp_path / "o.mp4", path, run_info={"seed": 0}, resume=True)
            except ValueError as err:
                result["error"] = str(err)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
        assert "another run is writing" in result["error"]
        from perpetual.engine import Frame

        for i in range(4):
            first.add(Frame(i, torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32), path.poses[i], True, 0.0))
    assert (tmp_path / "o.mp4").exists()


def test_the_battery_walks_every_subcommand():
    import argparse

    from perpetual.cli import build_parser

    choices = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(choices) == {case.split("-")[0] for case in CASES}
