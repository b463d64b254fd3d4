"""Camera paths: generators, waypoints, concatenation, schedules and files."""

import json
import math
from dataclasses import replace

import pytest
import torch

from perpetual.geometry import invert_pose, look_at, pitch_turn, rotation_angle
from perpetual.io.camera_files import list_presets, load_camera_path, read_nerfstudio, save_path, to_nerfstudio
from perpetual.io.draw import draw_path
from perpetual.paths import (
    CameraPath,
    PathSpec,
    build,
    forward,
    from_deforum,
    from_function,
    from_waypoints,
    meander,
    orbit,
    pan,
    parse_schedule,
    schedule_values,
    spiral,
)


def eye_pose(x, y, z, tx, ty, tz):
    return look_at(torch.tensor([x, y, z], dtype=torch.float64), torch.tensor([tx, ty, tz], dtype=torch.float64))


def test_generators_start_at_the_origin_and_move_as_documented():
    for path in (forward(10), orbit(10), pan(10), spiral(10), meander(10)):
        assert torch.allclose(path.poses[0], torch.eye(4, dtype=torch.float64), atol=1e-12)
    f = forward(11, speed=0.05)
    assert torch.allclose(f.centres()[-1], torch.tensor([0.0, 0.0, 0.5], dtype=torch.float64))
    right = pan(5, degrees=30)
    heading = invert_pose(right.poses[-1])[:3, 2]  # the camera's forward axis in the world
    assert heading[0] > 0 and math.isclose(math.degrees(math.atan2(heading[0], heading[2])), 30.0, abs_tol=1e-9)


def test_a_levelled_path_flies_level_and_turns_about_the_vertical_of_a_tilted_camera():
    """A camera pitched down 15 degrees (its horizon a row above its middle): levelled, a forward
    path keeps its height above the level plane and a pan keeps that plane's horizon on the same
    row of every view; flown as given, the first descends and the second rolls the horizon."""
    tilt = math.radians(15.0)
    turn = pitch_turn(tilt)[:3, :3]
    up = turn.T @ torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)  # the level up, in frame 0's camera axes
    ahead, levelled = forward(11, speed=0.05), forward(11, speed=0.05).levelled(tilt)
    assert torch.allclose(levelled.poses[0], torch.eye(4, dtype=torch.float64))
    assert torch.allclose(levelled.centres() @ up, torch.zeros(11, dtype=torch.float64), atol=1e-12)
    assert float(ahead.centres()[-1] @ up) < -0.1  # along its own axis: down by sin(15) of the way
    assert torch.allclose(levelled.centres().norm(dim=1), ahead.centres().norm(dim=1))
    turned, plain = pan(9, degrees=40).levelled(tilt), pan(9, degrees=40)
    for level_pose, own_pose in zip(turned.poses, plain.poses):
        assert torch.allclose(level_pose[:3, :3] @ up, up, atol=1e-12)  # the level up is the same in every view
        assert math.isclose(math.degrees(rotation_angle(level_pose)), math.degrees(rotation_angle(own_pose)), abs_tol=1e-9)
    assert float((plain.poses[-1][:3, :3] @ up - up).norm()) > 0.1


def test_a_path_levelled_in_its_turns_only_keeps_every_camera_where_the_path_put_it():
    """Levelled without its moves, a path's cameras stay where they were, and turn as the fully
    levelled path turns: a forward flight (which never turns) is unchanged, a pan is the levelled
    pan, and a meander keeps its centre line and turns about the level vertical."""
    tilt = math.radians(15.0)
    up = pitch_turn(tilt)[:3, :3].T @ torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
    ahead = forward(11, speed=0.05)
    assert torch.allclose(ahead.levelled(tilt, moves=False).poses, ahead.poses, atol=1e-12)
    assert torch.allclose(pan(9, degrees=40).levelled(tilt, moves=False).poses, pan(9, degrees=40).levelled(tilt).poses, atol=1e-12)
    curve = meander(60, sway=0.25, period=40)
    turns, whole = curve.levelled(tilt, moves=False), curve.levelled(tilt)
    assert torch.allclose(turns.centres(), curve.centres(), atol=1e-12)
    assert torch.allclose(turns.poses[:, :3, :3], whole.poses[:, :3, :3], atol=1e-12)
    assert torch.allclose(turns.poses[:, :3, :3] @ up, up.expand(60, 3), atol=1e-12)  # no view rolls the horizon
    assert float((curve.poses[:, :3, :3] @ up - up).norm(dim=1).max()) > 0.05


def test_an_orbit_levelled_in_its_turns_circles_what_frame_0_looks_at_on_a_level_circle():
    """An orbit's cameras turn about its target (its pivot, ``radius`` ahead). Levelled for a
    camera pitched down 15 degrees, every camera keeps looking at the point frame 0 looks at,
    from the same distance, at frame 0's height over the level plane, with the horizon level.
    Turned about their own centres instead, they would stay on the tilted circle and look past
    the target; concatenated after another path, the orbit keeps its pivot."""
    tilt, radius = math.radians(15.0), 0.8
    up = pitch_turn(tilt)[:3, :3].T @ torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
    path = orbit(40, degrees=90, radius=radius)
    assert torch.allclose(path.pivot, torch.full((40,), radius, dtype=torch.float64))
    level = path.levelled(tilt, moves=False)
    target = torch.tensor([0.0, 0.0, radius, 1.0], dtype=torch.float64)
    in_cam = level.poses @ target
    assert torch.allclose(in_cam[:, :3], torch.tensor([0.0, 0.0, radius], dtype=torch.float64).expand(40, 3), atol=1e-9)
    assert torch.allclose(level.centres() @ up, torch.zeros(40, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(level.poses[:, :3, :3] @ up, up.expand(40, 3), atol=1e-12)
    own_centres = replace(path, pivot=None).levelled(tilt, moves=False)
    assert float((own_centres.poses @ target)[:, :2].norm(dim=1).max()) > 0.1
    assert float((own_centres.centres() @ up).abs().max()) > 0.05
    joined = forward(10) + path
    assert torch.allclose(joined.pivot, torch.cat([torch.zeros(10, dtype=torch.float64), path.pivot[1:]]))
    assert torch.allclose(joined[10:].pivot, path.pivot[1:]) and len(joined.resampled(25).pivot) == 25
    with pytest.raises(ValueError, match="pivot"):
        replace(path, pivot=torch.zeros(3))


def test_orbit_returns_to_its_start_and_keeps_looking_at_the_centre():
    path = orbit(73, degrees=360, radius=2.0)
    assert torch.allclose(path.poses[-1], path.poses[0], atol=1e-9)
    centre = torch.tensor([0.0, 0.0, 2.0, 1.0], dtype=torch.float64)
    in_cam = path.poses @ centre
    assert torch.allclose(in_cam[:, :2], torch.zeros(73, 2, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(in_cam[:, 2], torch.full((73,), 2.0, dtype=torch.float64))


def test_waypoint_paths_pass_through_every_waypoint_without_jumps():
    keys = [eye_pose(0, 0, 0, 0, 0, 1), eye_pose(0.5, -0.2, 1, 1, 0, 2), eye_pose(1.0, 0, 2.5, 0.5, 0.3, 4), eye_pose(0, -0.4, 3, -1, 0, 4)]
    times = [0.0, 1.0, 2.5, 3.0]
    for easing in ("linear", "ease-in-out"):
        path = from_waypoints(times, keys, fps=20, easing=easing)
        assert len(path) == 61
        for t, key in zip(times, keys):
            assert torch.allclose(path.poses[round(t * 20)], key, atol=1e-9)
        c = path.centres()
        step = (c[1:] - c[:-1]).norm(dim=1)
        assert step.max() < 4 * step.median() + 1e-9  # no jumps
        # Rotations vary smoothly too: neighbouring frames differ by small angles.
        rel = path.poses[1:] @ invert_pose(path.poses[:-1])
        angle = torch.acos(((rel[:, 0, 0] + rel[:, 1, 1] + rel[:, 2, 2] - 1) / 2).clamp(-1, 1))
        assert angle.max() < 0.1
        # C1 positions: no velocity kink at a key; its second difference is like its neighbours'.
        acc = (c[2:] - 2 * c[1:-1] + c[:-2]).norm(dim=1)  # acc[i] is at frame i + 1
        for t in times[1:-1]:
            k = round(t * 20) - 1
            assert acc[k] <= 3 * max(acc[k - 2], acc[k + 2]) + 1e-9


def test_concatenation_continues_from_the_last_pose():
    a, b = forward(20, speed=0.03), pan(15, degrees=45)
    path = a + b
    assert len(path) == 34
    assert torch.allclose(path.poses[19], a.poses[-1])
    c = path.centres()
    assert torch.allclose(c[19:], c[19].expand(15, 3), atol=1e-12)  # panning in place where a ended
    rel = path.poses[20] @ invert_pose(path.poses[19])
    assert torch.allclose(rel, b.poses[1] @ invert_pose(b.poses[0]), atol=1e-12)


def test_slicing_reversing_resampling():
    path = spiral(50)
    assert len(path[10:20]) == 10 and torch.equal(path[3].poses[0], path.poses[3])
    assert torch.equal(path.reversed().poses[0], path.poses[-1])
    fine = path.resampled(99)
    assert len(fine) == 99 and torch.allclose(fine.poses[0], path.poses[0]) and torch.allclose(fine.poses[-1], path.poses[-1])
    assert torch.allclose(fine.poses[::2], path.poses, atol=1e-6)  # the old frames are still there


def test_function_paths():
    path = from_function(lambda t: eye_pose(t, 0, 0, t, 0, 1), frames=11, fps=10)
    assert torch.allclose(path.centres()[-1], torch.tensor([1.0, 0, 0], dtype=torch.float64))


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(poses=torch.full((2, 4, 4), float("nan"))), "not finite"),
        (dict(poses=torch.eye(4).repeat(2, 1, 1) * 2), "not a rigid"),
        (dict(fov=torch.tensor(-5.0)), "fov"),
        (dict(fov=torch.tensor(200.0)), "fov"),
        (dict(width=0), "frame size"),
        (dict(fps=0.0), "fps"),
    ],
)
def test_validation_errors(bad, message):
    args = dict(poses=torch.eye(4).repeat(2, 1, 1), fov=torch.tensor(60.0)) | bad
    with pytest.raises(ValueError, match=message):
        CameraPath(**args)


def test_schedules():
    assert parse_schedule("0:(0), 30:(1.5)") == [(0, 0.0), (30, 1.5)]
    assert parse_schedule(" 0: (-2e-1) ") == [(0, -0.2)]
    v = schedule_values("0:(0), 10:(1), 20:(1)", 25)
    assert v[5].item() == pytest.approx(0.5) and v[15].item() == 1.0 and v[24].item() == 1.0
    for bad in ("0:(sin(t))", "0:0", "10:(1), 5:(2)", "", "0:(1),,x"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_deforum_motion():
    path = from_deforum({"translation_z": "0:(2)", "rotation_3d_y": "0:(0)"}, 11, translation_scale=0.01)
    assert torch.allclose(path.centres()[-1], torch.tensor([0, 0, 0.2], dtype=torch.float64))
    turning = from_deforum({"rotation_3d_y": "0:(3)"}, 11)
    assert math.isclose(math.degrees(float(torch.acos((turning.poses[-1, :3, :3].trace() - 1) / 2))), 30.0, abs_tol=1e-6)
    zoom = from_deforum({"fov": "0:(60), 10:(40)"}, 11)
    assert zoom.fov[-1].item() == pytest.approx(40.0)
    with pytest.raises(ValueError, match="unknown schedule key"):
        from_deforum({"strength": "0:(0.6)"}, 5)


def test_nerfstudio_round_trip_is_exact(tmp_path):
    path = from_waypoints([0, 1, 2], [eye_pose(0, 0, 0, 0, 0, 1), eye_pose(1, -1, 1, 0, 0, 3), eye_pose(2, 0, 0, 3, 0.5, 2)], fps=12, fov=[50, 60, 70], width=320, height=240)
    back = read_nerfstudio(json.loads(json.dumps(to_nerfstudio(path))))
    assert torch.allclose(back.poses, path.poses, atol=1e-12) and torch.allclose(back.fov, path.fov)
    assert (back.width, back.height, back.fps) == (320, 240, 12.0)
    save_path(path, tmp_path / "p.json")
    again = load_camera_path(str(tmp_path / "p.json")).path
    assert torch.allclose(again.poses, path.poses, atol=1e-12)
    data = json.loads((tmp_path / "p.json").read_text())
    assert len(data["camera_path"][0]["camera_to_world"]) == 16 and data["seconds"] == pytest.approx(25 / 12)


def test_every_preset_loads_validates_and_draws(tmp_path):
    presets = list_presets()
    assert {"forward", "orbit", "pan-left", "pan-right", "rise", "spiral", "meander", "autopilot"} <= set(presets)
    for name in presets:
        traj = load_camera_path(name, frames=30)
        assert len(traj.path) == 30
        traj.path.validate()
        draw_path(traj.path, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert load_camera_path("autopilot").spec.closed_loop


def test_our_json_formats(tmp_path):
    keys = {"perpetual_camera_path": 1, "fps": 10, "easing": "ease-in-out", "waypoints": [
        {"time": 0, "position": [0, 0, 0], "look_at": [0, 0, 1]},
        {"time": 2, "position": [0.5, -0.2, 1], "look_at": [0.5, 0, 3], "fov": 45}]}
    (tmp_path / "k.json").write_text(json.dumps(keys))
    path = load_camera_path(str(tmp_path / "k.json")).path
    assert len(path) == 21 and path.fov[-1].item() == pytest.approx(45.0)
    older = {k if k != "waypoints" else "keyframes": v for k, v in keys.items()}  # files from before the rename
    (tmp_path / "older.json").write_text(json.dumps(older))
    assert torch.equal(load_camera_path(str(tmp_path / "older.json")).path.poses, path.poses)
    sched = {"perpetual_camera_path": 1, "frames": 12, "deforum": {"translation_z": "0:(1)"}}
    (tmp_path / "d.json").write_text(json.dumps(sched))
    assert len(load_camera_path(str(tmp_path / "d.json")).path) == 12


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"perpetual_camera_path": 1, "generator": "warp-drive"}', "unknown camera path generator"),
        ('{"perpetual_camera_path": 1, "generator": "forward", "params": {"sped": 1}}', "bad parameters"),
        ('{"perpetual_camera_path": 1, "generator": "autopilot", "params": {"speed": "fast"}}', "'speed' must be a number"),
        ('{"perpetual_camera_path": 1, "generator": "forward", "fov": -3}', "fov"),
        ('{"perpetual_camera_path": 1, "cam_from_world": [[[2,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]]}', "rigid"),
        ('{"perpetual_camera_path": 1, "fps": NaN, "generator": "forward"}', "finite"),
        ('{"camera_path": []}', "non-empty"),
        ('{"hello": 1}', "not a camera path file"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_malformed_files_give_one_clear_error(tmp_path, content, message):
    file = tmp_path / "bad.json"
    file.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_camera_path(str(file))


def test_unknown_trajectory_names_the_presets():
    with pytest.raises(ValueError, match="not a file and not a preset.*forward"):
        load_camera_path("no-such-thing")


def test_spec_building_rejects_unknown_generators():
    with pytest.raises(ValueError, match="known: .*autopilot"):
        build(PathSpec("teleport"), 5)
