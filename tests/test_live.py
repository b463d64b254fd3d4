"""Live flights: steering by hand, and frame-by-frame flights against the offline loop."""

from __future__ import annotations

import math
import time

import torch

from perpetual import Flythrough, World, load_config
from perpetual.config import apply_overrides
from perpetual.geometry import invert_pose
from perpetual.live import LiveFlight
from perpetual.paths import CameraPath
from perpetual.paths.autopilot import Autopilot
from perpetual.paths.pilot import Controls, Pilot, PilotSettings


def _centre(pose: torch.Tensor) -> torch.Tensor:
    return invert_pose(pose)[:3, 3]


def test_keys_move_the_camera_the_way_they_say() -> None:
    far = torch.full((16, 16), 0.05)  # everything 20 units away: nothing in the way
    cases = {"w": (2, +1), "s": (2, -1), "d": (0, +1), "a": (0, -1), "e": (1, -1), "q": (1, +1)}  # up is -y
    for key, (axis, sign) in cases.items():
        pilot = Pilot()
        for _ in range(5):
            pose = pilot.next_pose(Controls.from_keys({key}), far)
        moved = _centre(pose)
        assert math.isclose(float(moved[axis]), sign * 5 * 0.02, abs_tol=1e-9), key
        assert float(moved.abs().sum()) == abs(float(moved[axis])), key
    pilot = Pilot()
    pilot.next_pose(Controls.from_keys({"W", "Shift"}), far)
    assert math.isclose(float(pilot.centre[2]), 0.06)  # Shift: three times the speed


def test_turns_and_mouse_look() -> None:
    pilot = Pilot(PilotSettings(turn=2.0))
    far = torch.full((16, 16), 0.05)
    for _ in range(10):
        pilot.next_pose(Controls.from_keys({"ArrowRight"}, turn=2.0), far)
    assert math.isclose(math.degrees(pilot.yaw), 20.0)
    pose = pilot.next_pose(Controls.from_keys({"w"}, look=(0.0, 10.0)), far)
    assert math.isclose(math.degrees(pilot.pitch), 10.0)
    forward_in_world = invert_pose(pose)[:3, 2]  # the camera's +z axis
    assert float(forward_in_world[0]) > 0 and float(forward_in_world[1]) < 0  # turned right, looking up (up is -y)
    moved = pilot.centre
    assert math.isclose(math.atan2(float(moved[0]), float(moved[2])), math.radians(20.0))  # moved along the heading


def test_forward_stops_short_of_a_wall() -> None:
    pilot = Pilot(PilotSettings(clearance=0.25))

    def wall() -> torch.Tensor:  # a wall at z = 0.5, as the camera sees it from where it is
        return torch.full((16, 16), 1 / (0.5 - float(pilot.centre[2])))

    for _ in range(200):
        pilot.next_pose(Controls.from_keys({"w"}), wall())
    assert 0.24 < float(pilot.centre[2]) <= 0.25  # it came up to the clearance, never past it
    before = float(pilot.centre[2])
    pilot.next_pose(Controls.from_keys({"s"}), wall())  # backing off is always allowed
    assert float(pilot.centre[2]) < before


def test_pilot_and_autopilot_hand_over_without_a_jump() -> None:
    pilot, autopilot = Pilot(), Autopilot()
    far = torch.full((16, 16), 0.05)
    for _ in range(3):
        pilot.next_pose(Controls.from_keys({"w", "ArrowLeft"}), far)
    pilot.hand_to(autopilot)
    assert torch.allclose(autopilot.pose(), pilot.pose())
    autopilot.next_pose(far.view(1, 1, 16, 16))
    pilot.take_from(autopilot)
    assert torch.allclose(pilot.pose(), autopilot.pose())


def _world(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    _, view = World().start_view(size, size, 60.0)
    return view.image, view.disparity


def test_live_flight_in_line_is_the_offline_flight_along_its_poses() -> None:
    engine = Flythrough(load_config("classical"))
    image, disparity = _world()
    pilot, live = Pilot(), LiveFlight(engine, image, disparity, background=False)
    frames = [live.frame]
    for i in range(12):
        keys = {"w"} if i < 8 else {"w", "ArrowRight"}
        frames.append(live.step(pilot.next_pose(Controls.from_keys(keys), live.frame.disparity)))
    assert live.keyframes > 1
    path = CameraPath(torch.stack([f.pose for f in frames]), torch.tensor(60.0), 64, 64)
    unguarded = apply_overrides(load_config("classical"), ["guard.on_clearance=off"])  # the poses as given, wherever the world's hills are
    offline = list(Flythrough(unguarded).run(image, path, disparity))
    assert [f.is_keyframe for f in offline] == [f.is_keyframe for f in frames]
    for a, b in zip(frames, offline):
        assert torch.equal(a.image, b.image), a.index


def test_background_refinement_keeps_the_view_going() -> None:
    engine = Flythrough(load_config("classical"))
    image, disparity = _world()
    live = LiveFlight(engine, image, disparity)
    slow = engine.inpainter.__call__

    def slow_inpaint(request):  # a refiner far slower than a frame
        time.sleep(0.3)
        return slow(request)

    engine.inpainter = slow_inpaint
    pilot, shown, while_refining = Pilot(PilotSettings(speed=0.05)), [], 0
    for _ in range(20):
        shown.append(live.step(pilot.next_pose(Controls.from_keys({"w"}), live.frame.disparity)))
        while_refining += live.refining
        time.sleep(0.02)
    live.close()
    assert while_refining >= 3  # frames kept coming while a keyframe was being refined
    assert live.keyframes > 1 and not any(f.is_keyframe for f in shown[1:])  # refined off the view's thread
    assert all(f.index == i + 1 for i, f in enumerate(shown))


def test_a_recording_stopped_mid_frame_keeps_every_frame_it_wrote(tmp_path, monkeypatch) -> None:
    """The studio steps the flight and stops a recording on two threads: a stop while a frame is
    being written waits for it, and the video and the poses hold the same frames."""
    import threading

    import imageio

    from perpetual.io.camera_files import load_camera_path
    from perpetual.io.video import VideoWriter
    from perpetual.studio.live import LiveSession

    image, disparity = _world()
    session = LiveSession(Flythrough(load_config("classical")), image, disparity, fov=60.0, prompt="", seed=0, folder=tmp_path)
    session.record()
    session.tick()
    write = VideoWriter.write

    def slow_write(self, frame):  # a frame still being encoded when the stop comes
        time.sleep(0.5)
        write(self, frame)

    def tick():
        try:
            session.tick()
        except Exception as error:  # noqa: BLE001 (reported below)
            failed.append(error)

    monkeypatch.setattr(VideoWriter, "write", slow_write)
    failed = []
    ticking = threading.Thread(target=tick)
    ticking.start()
    time.sleep(0.2)
    names = session.stop_recording()
    ticking.join()
    session.close()
    assert names == ["recording.mp4", "recording.poses.json"] and failed == []
    with imageio.get_reader(tmp_path / "recording.mp4") as video:
        frames = video.count_frames()
    assert frames == len(load_camera_path(str(tmp_path / "recording.poses.json")).path) == 3
