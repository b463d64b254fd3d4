"""The autopilot flies the true world (perfect depth) without touching the ground."""

import math

import pytest
import torch

from perpetual.geometry import intrinsics_from_fov, invert_pose, pitch_turn
from perpetual.paths.autopilot import Autopilot, AutopilotSettings, turn_headings
from perpetual.world import World, WorldSettings


@pytest.mark.parametrize("seed", [0, 5])
def test_closed_loop_over_the_world_keeps_clear_and_keeps_the_sky(seed):
    world = World(WorldSettings(seed=seed, resolution=384))
    start = world.start_camera()
    K = intrinsics_from_fov(60.0, 48, 48).unsqueeze(0)
    pilot = Autopilot(AutopilotSettings(speed=0.04))
    pose, scale, skies, yaws = pilot.pose(), None, [], []
    for i in range(160):
        cam = pose.float().clone()
        if scale is not None:
            cam[:3, 3] *= scale
        cam = cam @ start
        view = world.render(cam[None], K, 48, 48)
        if scale is None:  # scene units: the first view's median depth is 1
            scale = float((1.0 / view.disparity[view.disparity > 0]).median())
        assert float(world.clearance(cam)) > 0, f"below ground at frame {i}"
        skies.append(float(view.sky.float().mean()))
        pose = pilot.next_pose(view.disparity * scale)
        yaws.append(pilot.yaw)
    assert min(skies[40:]) >= 0.05 and max(skies[40:]) <= 0.7
    assert torch.linalg.norm(pilot.centre[[0, 2]]) > 0.04 * 160 * 0.5  # it made progress
    turns = [math.degrees(b - a) for a, b in zip(yaws, yaws[1:])]
    assert max(abs(t) for t in turns) <= 0.5 + 1e-9  # rate-limited: no yaw jitter


def test_it_stops_short_of_a_wall():
    pilot = Autopilot(AutopilotSettings(speed=0.05, clearance=0.25))
    wall = torch.full((1, 1, 32, 32), 1 / 0.3)  # a wall 0.3 units ahead fills the view
    for _ in range(20):
        pilot.next_pose(wall)
        wall = torch.full((1, 1, 32, 32), 1 / max(0.3 - float(pilot.centre[2]), 1e-3))
    assert float(pilot.centre[2]) < 0.3 - 0.25 + 1e-9  # never inside the clearance
    assert float(pilot.centre[1]) < 0  # climbed


K_PHOTO = intrinsics_from_fov(60.0, 20, 20).unsqueeze(0)


def test_from_a_photo_it_holds_the_photos_own_sky_unless_told_a_band():
    photo = torch.ones(1, 1, 20, 20)
    photo[..., :2, :] = 0.0  # a tenth of the view is sky: under the world's band (0.2, 0.45)
    pilot = Autopilot()
    assert pilot.sky_band == (0.2, 0.45)
    pilot.keep_to_photo(photo, K_PHOTO)
    assert pilot.sky_band == pytest.approx((0.1 / 1.25, 0.1 * 1.25))
    pitch = pilot.pitch
    pilot.next_pose(photo)
    assert pilot.pitch == pitch  # in its band: no pitching up toward the world's sky
    told = Autopilot(AutopilotSettings(sky_band=(0.3, 0.5)))
    told.keep_to_photo(photo, K_PHOTO)
    assert told.sky_band == (0.3, 0.5)
    forest = torch.ones(1, 1, 20, 20)  # no sky: a forest, a room
    no_sky = Autopilot()
    no_sky.keep_to_photo(forest, K_PHOTO)
    assert no_sky.sky_band == pytest.approx((0.0, 0.025))
    for _ in range(30):
        no_sky.next_pose(forest)
    assert no_sky.pitch == 0.0  # it does not pitch up to look for sky
    looking = Autopilot()  # the world's band would
    for _ in range(30):
        looking.next_pose(forest)
    assert math.degrees(looking.pitch) > 5.0


def test_from_a_photo_it_holds_its_height_and_flies_at_the_fitted_speed():
    """A photo taken from the ground (a beach at disparity 4 at the bottom of the view) is flown
    at its own height, not lifted until that ground is as far as the world's (disparity 1), nor
    lowered toward ground that reads farther (a depth model's bowed estimate); a surface close
    ahead still makes it climb. The step is the fitted share of the settings' speed."""
    near, far = torch.full((1, 1, 20, 20), 0.5), torch.full((1, 1, 20, 20), 0.5)
    near[..., 14:, :], far[..., 14:, :] = 4.0, 0.6
    world, kept = Autopilot(), Autopilot()
    kept.keep_to_photo(near, K_PHOTO, speed=0.25)
    for i in range(30):
        world.next_pose(near)
        kept.next_pose(near if i < 15 else far)
    assert float(world.centre[1]) < -0.1  # climbed toward the world's ground height
    assert float(kept.centre[1]) == 0.0
    assert float(kept.centre[2]) == pytest.approx(30 * 0.25 * kept.settings.speed)
    kept.next_pose(torch.full((1, 1, 20, 20), 1 / 0.3))  # a wall 0.3 ahead: within twice the clearance
    assert float(kept.centre[1]) < 0.0


def test_from_a_photo_its_heading_stays_over_the_photo():
    """Open ground on the right in every view: over the world it turns on and on; from a photo of
    a 60 degree field it eases to within 15 degrees (half of the half field) of frame 0's heading,
    and handed a heading beyond that (as the studio's pilot does), it turns back."""
    view = torch.full((1, 1, 20, 20), 0.2)
    view[..., :7] = 2.0
    world, kept = Autopilot(), Autopilot()
    kept.keep_to_photo(view, K_PHOTO)
    half_field = math.degrees(math.atan(10.0 / float(K_PHOTO[0, 0, 0])))
    bound = 0.5 * half_field
    assert kept.heading_bound == pytest.approx((bound, bound))
    yaws = []
    for _ in range(300):
        world.next_pose(view)
        kept.next_pose(view)
        yaws.append(math.degrees(kept.yaw))
    assert math.degrees(world.yaw) > 90
    assert max(yaws) <= bound + 0.5 and yaws[-1] > bound - 1
    kept.yaw = math.radians(40.0)
    for _ in range(100):
        kept.next_pose(view)
    assert math.degrees(kept.yaw) <= bound + 0.5


def test_turn_headings_is_the_autopilots_own_fastest_turn_into_its_bound():
    """With open ground on the right in every view (a full turn command), the autopilot's heading
    is what :func:`turn_headings` foresees, frame by frame: it reaches nine tenths of its bound
    within 60 frames and never passes it. Toward the left it is the same turn, mirrored."""
    view = torch.full((1, 1, 20, 20), 0.2)
    view[..., :7] = 2.0
    kept = Autopilot()
    kept.keep_to_photo(view, K_PHOTO)
    bound = kept.heading_bound[1]
    yaws = []
    for _ in range(120):
        kept.next_pose(view)
        yaws.append(math.degrees(kept.yaw))
    foreseen = turn_headings(kept.settings, bound, 121)
    assert foreseen[0] == 0.0 and yaws == pytest.approx(foreseen[1:], abs=1e-9)
    assert foreseen[60] > 0.9 * bound and max(foreseen) <= bound
    assert turn_headings(kept.settings, -bound, 121) == pytest.approx([-y for y in foreseen])


def test_from_a_photo_each_side_has_its_own_bound():
    """Handed shares of the bound for each side (what the fit finds a turn keeps of the photo),
    the autopilot eases to a fifth of it on the right, toward the open ground, and turned back
    left it stops at its whole bound there."""
    view = torch.full((1, 1, 20, 20), 0.2)
    view[..., :7] = 2.0
    kept = Autopilot()
    kept.keep_to_photo(view, K_PHOTO, turns=(1.0, 0.2))
    bound = 0.5 * math.degrees(math.atan(10.0 / float(K_PHOTO[0, 0, 0])))
    assert kept.heading_bound == pytest.approx((bound, 0.2 * bound))
    yaws = []
    for _ in range(300):
        kept.next_pose(view)
        yaws.append(math.degrees(kept.yaw))
    assert max(yaws) <= 0.2 * bound + 0.5 and yaws[-1] > 0.2 * bound - 1
    mirrored = torch.flip(view, dims=[-1])  # now the open ground is on the left
    for _ in range(300):
        kept.next_pose(mirrored)
    assert -bound - 0.5 <= math.degrees(kept.yaw) < -bound + 1


def test_held_back_it_stays_put_and_turns_toward_the_open_side_faster():
    """``pace`` 0 (the view ahead is magnified land): no step along the heading and no climb (the
    ground term asks to descend here), and the turn toward the open side (here the right: far
    ground there, a near slab on the left) is allowed three times the turn rate; ``ahead`` is the
    pose a number of full steps on, climb included, as it looks now."""
    view = torch.full((1, 1, 30, 30), 0.2)
    view[..., :10] = 2.0
    free, held = Autopilot(), Autopilot()
    for _ in range(100):
        free.next_pose(view)
        held.next_pose(view, pace=0.0)
    assert torch.equal(held.centre, torch.zeros(3, dtype=torch.float64)) and held.climb < -0.5
    assert float(free.centre[2]) > 0.5 and float(free.centre[1]) > 0.5  # the free one descends (up is -y)
    assert free.yaw_rate == pytest.approx(0.5, abs=0.01) and held.yaw_rate == pytest.approx(1.5, abs=0.01)
    at = held.ahead(10)[:3, 3]
    s = held.settings.speed
    step = torch.tensor([s * math.sin(held.yaw), -0.5 * s * held.climb, s * math.cos(held.yaw)], dtype=torch.float64)
    expected = held.pose().clone()
    expected[:3, 3] -= 10 * step @ expected[:3, :3].T
    assert torch.allclose(at, expected[:3, 3]) and torch.equal(held.ahead(10)[:3, :3], held.pose()[:3, :3])


def test_state_round_trip():
    a = Autopilot()
    view = torch.rand(1, 1, 16, 16)
    for _ in range(5):
        a.next_pose(view)
    b = Autopilot()
    b.load(a.state())
    assert torch.equal(a.next_pose(view), b.next_pose(view))


def test_flight_evaluation_reports_every_curve(tmp_path):
    from perpetual.cli import main

    out = tmp_path / "report.json"
    sheet = tmp_path / "sheet.png"
    assert main(["eval", "flight", "--frames", "12", "--size", "32x32", "--json", str(out), "--plot", str(tmp_path / "p.png"),
                 "--contact-sheet", str(sheet)]) == 0
    import json

    import numpy as np
    from PIL import Image

    report = json.loads(out.read_text())
    assert report["summary"]["frames"] == 12 and report["summary"]["nan_frames"] == 0
    assert report["summary"]["clearance_violations"] == 0
    assert all(len(v) == 12 for v in report["curves"].values())
    assert (tmp_path / "p.png").stat().st_size > 1000
    # The contact sheet: frames 0 and 11 (a label row, the flight's 128-pixel row, the truth's), and
    # frame 0's flight and truth are the same image.
    shown = np.asarray(Image.open(sheet).convert("RGB")).astype(int)
    assert shown.shape == (14 + 2 * 128, 2 * 128, 3)
    assert np.abs(shown[14:142, :128] - shown[142:, :128]).max() <= 1
    assert np.abs(shown[14:142, 128:] - shown[142:, 128:]).mean() > 1  # frame 11 has left the truth a little
    # An output folder that does not exist is refused before the flight, and nothing is written.
    assert main(["eval", "flight", "--frames", "400", "--contact-sheet", str(tmp_path / "nowhere" / "s.png")]) == 2
    assert not (tmp_path / "nowhere").exists()
    # Frame 0 is the truth itself; the layout measures come every 50 frames and at the last one.
    assert [i for i, _ in report["depth_delta1_vs_truth"]] == [0, 11] == [i for i, _ in report["sky_iou_vs_truth"]]
    assert report["depth_delta1_vs_truth"][0][1] == 1.0 and report["sky_iou_vs_truth"][0][1] == 1.0
    assert [i for i, _ in report["ground_colour_vs_truth"]] == [0, 11] and report["ground_colour_vs_truth"][0][1] == 0.0
    assert 0 < report["summary"]["sharpness_late_median_vs_first"] < 10
    assert [i for i, _ in report["radial_streaks_truth"]] == [0, 11]
    assert report["radial_streaks_truth"][0][1] == report["curves"]["radial_streaks"][0]  # frame 0 is the truth
    assert report["estimated_start"] is False

    estimated = tmp_path / "estimated.json"
    assert main(["eval", "flight", "--frames", "2", "--size", "48x48", "--estimated-start", "--json", str(estimated)]) == 0
    report = json.loads(estimated.read_text())
    assert report["estimated_start"] is True and report["depth_delta1_vs_truth"][0][1] < 0.999
    assert 0 <= report["summary"]["depth_delta1_vs_truth_min"] <= 1 and 0 <= report["summary"]["sky_iou_vs_truth_min"] <= 1


def test_plot_series_spread_the_truth_samples_over_the_frames():
    from perpetual.flight_eval import FlightReport

    report = FlightReport(frames=4, depth_delta1_vs_truth=[(0, 1.0), (3, 0.5)])
    series = report.series()
    assert series["depth_delta1_vs_truth"][0] == 1.0 and series["depth_delta1_vs_truth"][3] == 0.5
    assert all(math.isnan(v) for v in series["depth_delta1_vs_truth"][1:3] + series["sky_iou_vs_truth"])
    assert set(report.curves) < set(series)


def test_layout_agreement_counts_ground_both_see_within_a_quarter():
    from perpetual.flight_eval import _depth_agreement

    truth = torch.tensor([[[[0.0, 2.0], [1.0, 4.0]]]])  # world units; one sky pixel
    rel, good, m = _depth_agreement(truth / 2, truth, scale=0.5)  # the same depths in scene units
    assert (good, m) == (3.0, 3.0) and rel < 1e-6
    rel, good, m = _depth_agreement(torch.tensor([[[[1.0, 1.0], [0.0, 3.5]]]]), truth, scale=1.0)
    assert (good, m) == (1.0, 2.0)  # 2 vs 1 is off by 2x; 3.5 vs 4 within 1.25; a pixel called sky is not counted


def test_default_pipeline_flies_the_autopilot_without_sky_flooding_or_collisions():
    from perpetual.config import load_config
    from perpetual.engine import Flythrough
    from perpetual.flight_eval import evaluate_flight
    from perpetual.paths import forward

    world = World(WorldSettings(seed=0, resolution=384))
    report = evaluate_flight(world, Flythrough(load_config("default")), forward(200).with_size(128, 128), autopilot=Autopilot(), short=5)
    summary = report.summary()
    assert summary["clearance_violations"] == 0 and summary["nan_frames"] == 0
    assert summary["sky_fraction_max"] <= 0.6  # sky does not flood the view
    assert 0.2 < summary["median_depth_last"] < 20.0  # the scene neither collapses nor flies away


def test_coherence_tells_radial_streaks_from_a_natural_view():
    from perpetual.structure import coherence

    view = World(WorldSettings(seed=0, resolution=384)).start_view(96, 96)[1].image
    y, x = torch.meshgrid(torch.linspace(-1, 1, 96), torch.linspace(-1, 1, 96), indexing="ij")
    rays = (0.5 + 0.4 * torch.sin(24 * torch.atan2(y, x))).expand(1, 3, 96, 96)  # smears out of a centre
    assert coherence(rays) > 0.85 and coherence(view) < 0.7


def test_radial_streaks_tell_smears_along_rays_from_rings_and_a_true_view():
    from perpetual.structure import radial_streaks

    view = World(WorldSettings(seed=0, resolution=384)).start_view(96, 96)[1]
    y, x = torch.meshgrid(torch.linspace(-1, 1, 96), torch.linspace(-1, 1, 96), indexing="ij")
    rays = (0.5 + 0.4 * torch.sin(24 * torch.atan2(y, x))).expand(1, 3, 96, 96)  # smears out of the centre
    rings = (0.5 + 0.4 * torch.sin(30 * (x * x + y * y).sqrt())).expand(1, 3, 96, 96)  # as coherent, across the rays
    assert radial_streaks(rays) > 0.95 and radial_streaks(rings) < 0.05
    assert 0.3 < radial_streaks(view.image, view.disparity > 0) < 0.7
    # The centre matters: rays out of another point do not run along rays from the middle.
    assert radial_streaks(rays, centre=(0.0, 0.0)) < 0.8
    assert math.isnan(radial_streaks(torch.full((1, 3, 16, 16), 0.5)))


def test_flight_eval_scores_a_flight_on_true_depth_against_the_truth_at_the_same_poses():
    from perpetual.config import load_config
    from perpetual.engine import Flythrough
    from perpetual.flight_eval import evaluate_flight
    from perpetual.paths import forward

    world = World(WorldSettings(seed=0, resolution=384))
    path = forward(8, speed=0.03).with_size(128, 128)
    summary = evaluate_flight(world, Flythrough(load_config("classical")), path, short=8).summary()
    # The flight starts from the true depth, so frames warped from it match the truth rendered at
    # the same poses (scene units converted to the world's): this fails if the scale is wrong.
    assert summary["short_psnr"] > 33.0
    assert summary["short_depth_delta1"] > 0.97


def test_flight_eval_can_start_from_the_estimated_depth_as_a_photo_does():
    from perpetual.config import load_config
    from perpetual.engine import Flythrough
    from perpetual.flight_eval import evaluate_flight
    from perpetual.paths import forward

    world = World(WorldSettings(seed=0, resolution=384))
    path = forward(4, speed=0.03).with_size(96, 96)
    fly = Flythrough(load_config("default"))
    report = evaluate_flight(world, fly, path, short=4, true_start=False)
    (first, delta), (_, iou) = report.depth_delta1_vs_truth[0], report.sky_iou_vs_truth[0]
    assert first == 0 and delta < 0.999  # the estimate, not the truth
    assert iou > 0.9  # but the sky over the horizon is sky (not ground a hundred units away)


def test_contact_sheet_wraps_rows_and_keeps_thumbnails(tmp_path):
    import numpy as np
    from PIL import Image

    from perpetual.io.plot import ContactSheet

    sheet = ContactSheet(thumb=16, columns=4)
    for i in range(6):  # 32x64 frames (H x W): 16 x 32 thumbnails; frame i is grey level i / 10, its truth white
        sheet.add(i * 50, torch.full((1, 3, 32, 64), i / 10), torch.ones(1, 3, 32, 64))
    assert all(frame.size == (32, 16) for _, frame, _ in sheet.views)  # only thumbnails are kept
    sheet.save(tmp_path / "s.png")
    shown = np.asarray(Image.open(tmp_path / "s.png").convert("RGB")).astype(int)
    block = ContactSheet._LABEL + 2 * 16
    assert shown.shape == (2 * block, 4 * 32, 3)
    # Frame 5 sits second in the second row of frames, over its white truth; the row's end is blank.
    y, x = block + ContactSheet._LABEL, 32
    assert np.abs(shown[y : y + 16, x : x + 32] - round(0.5 * 255)).max() <= 1
    assert (shown[y + 16 : y + 32, x : x + 32] == 255).all()
    assert (shown[y:, 2 * 32 :] == 255).all()
    with pytest.raises(ValueError, match="no frames"):
        ContactSheet().save(tmp_path / "empty.png")


def test_from_a_photo_taken_looking_down_it_turns_about_the_level_vertical():
    """From a photo whose horizon is 15 degrees above its axis, the autopilot handed that tilt
    turns as a tripod head does: the level up is the same in every view as it turns toward the
    open side, where turned about its own (tilted) vertical the horizon rolls; it stays where
    it would have flown, and what it foresees (:meth:`Autopilot.ahead`) is turned the same way."""
    tilt = math.radians(15.0)
    up = pitch_turn(tilt)[:3, :3].T @ torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
    view = torch.full((1, 1, 20, 20), 0.2)
    view[..., :7] = 2.0
    level, own = Autopilot(), Autopilot()
    level.keep_to_photo(view, K_PHOTO, level=(tilt, False))
    own.keep_to_photo(view, K_PHOTO)
    for _ in range(80):
        levelled, tilted = level.next_pose(view), own.next_pose(view)
        assert torch.allclose(levelled[:3, :3] @ up, up, atol=1e-12)
        assert torch.allclose(invert_pose(levelled)[:3, 3], invert_pose(tilted)[:3, 3], atol=1e-12)
    assert math.degrees(level.yaw) > 5.0 and float((tilted[:3, :3] @ up - up).norm()) > 0.02
    assert torch.allclose(level.ahead(3)[:3, :3], levelled[:3, :3], atol=1e-12)
