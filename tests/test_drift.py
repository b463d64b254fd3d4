"""Detail restoration (perpetual.drift): what magnification and stretching take away is put back."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from perpetual.drift import crispness, detail_level, match_colour, resharpen, restore_detail
from tests.conftest import camera, pose
from perpetual.structure import sharpness
from perpetual.render.sampling import catmull_rom


def _texture(size: int = 96, seed: int = 0) -> torch.Tensor:
    """A grey image with isotropic fine texture ``(1, 3, size, size)``."""
    g = torch.Generator().manual_seed(seed)
    grain = torch.randn(1, 1, size, size, generator=g) * 0.08
    return (0.5 + grain).expand(1, 3, size, size).clamp(0, 1)


def _magnified(image: torch.Tensor, factor: int, axis: int | None = None) -> torch.Tensor:
    """The top-left part of ``image`` enlarged ``factor`` times (bilinear), along one axis or both."""
    H, W = image.shape[-2:]
    h = H // factor if axis in (None, 0) else H
    w = W // factor if axis in (None, 1) else W
    return F.interpolate(image[..., :h, :w], size=(H, W), mode="bilinear", align_corners=True)


def test_detail_level_drops_under_magnification_and_under_stretch():
    image = _texture()
    native = detail_level(image)[..., 8:-8, 8:-8].median()
    assert detail_level(_magnified(image, 4))[..., 8:-8, 8:-8].median() < 0.2 * native
    # Stretched along one axis only: the other axis keeps its texture, yet it counts as lost.
    assert detail_level(_magnified(image, 4, axis=1))[..., 8:-8, 8:-8].median() < 0.3 * native


def test_restore_detail_brings_magnified_ground_back_to_its_level_and_leaves_the_rest():
    image = _texture()
    target = detail_level(image)
    blurred = _magnified(image, 2)  # still holds half its detail: restored in full
    disparity = torch.ones(1, 1, 96, 96)
    disparity[..., :20, :] = 0.0  # sky
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    out = restore_detail(blurred, disparity, target, 1.0, g())
    inner = (slice(None), slice(None), slice(28, -8), slice(8, -8))
    ratio = (detail_level(out)[inner] / target[inner]).median()
    assert 0.75 < ratio < 1.3, ratio
    assert torch.equal(out[..., :20, :], blurred[..., :20, :])  # sky untouched
    assert torch.equal(out, restore_detail(blurred, disparity, target, 1.0, g()))  # seeded
    assert torch.equal(restore_detail(blurred, disparity, target, 0.0, g()), blurred)
    # A surface that still has its detail gets (almost) nothing added.
    same = restore_detail(image, disparity, target, 1.0, g())
    assert (same - image).abs()[inner].mean() < 0.1 * (out - blurred).abs()[inner].mean()
    # Half the strength adds half the amplitude.
    half = restore_detail(blurred, disparity, target, 0.5, g())
    assert torch.allclose((half - blurred)[inner], 0.5 * (out - blurred)[inner], atol=0.02)


def test_grain_is_bounded_by_the_detail_the_view_still_holds():
    image = _texture()
    target = detail_level(image)
    disparity = torch.ones(1, 1, 96, 96)
    g = torch.Generator().manual_seed(3)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    # Magnified 8 times: some detail is added back, at most twice what is left, never all of it.
    blurred = _magnified(image, 8)
    out = restore_detail(blurred, disparity, target, 1.0, g)
    before, after = detail_level(blurred)[inner].median(), detail_level(out)[inner].median()
    assert before < after < 2.6 * before < 0.5 * target[inner].median()
    # A surface magnified to a blank gets no grain at all: it does not turn into a noise texture.
    blank = torch.full_like(image, 0.4)
    assert torch.equal(restore_detail(blank, disparity, target, 1.0, g), blank)


def test_grain_on_a_surface_magnified_since_first_seen_does_not_compound_over_keyframes():
    """Each keyframe's grain is bounded by the detail its view still holds, but that detail counts
    the grain of the keyframes before: a surface that stays magnified 4x would be all grain within
    a few keyframes. From a photo, told how magnified it is, the grain is held to what its first
    pixels resolve; over the procedural world (detail at every scale) it is not."""
    from perpetual.drift import Anchor, Draft, drift_controls
    from perpetual.geometry import intrinsics_from_fov

    image = _texture()
    target = detail_level(image)
    disparity = torch.ones(1, 1, 96, 96)
    uv = torch.stack(torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="xy")).unsqueeze(0)
    K = intrinsics_from_fov(60.0, 96, 96).unsqueeze(0)
    valid = torch.ones_like(disparity, dtype=torch.bool)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    blurred = _magnified(image, 4)

    def keyframes(magnified: float | None, photo: bool = True, count: int = 8) -> torch.Tensor:
        restore, = drift_controls(anchor, anchor_sky=False, anchor_land=False, colour_match=0.0, detail=1.0, seed=0, photo=photo)
        shown = None if magnified is None else torch.full_like(disparity, magnified)
        current = blurred
        for t in range(count):  # the surface stays where it is, magnified, one keyframe after another
            draft = Draft(current, disparity, torch.eye(4, dtype=torch.float64), K, t, uv, valid, current, target, magnified=shown)
            current = restore(draft).image
        return detail_level(current)[inner].median() / target[inner].median()

    anchor = Anchor(image, disparity, torch.eye(4, dtype=torch.float64), K)
    first = detail_level(blurred)[inner].median() / target[inner].median()
    assert keyframes(None) > 0.8  # not told: the grain piles up to the first-seen detail
    assert first < keyframes(4.0) < 0.6  # some grain, held to about half the first-seen detail (2 / 4)
    assert keyframes(1.5) > 0.8  # magnified under 2x: as before
    assert keyframes(4.0, photo=False) > 0.8  # the procedural world's surfaces have detail at every scale


def test_repeated_colour_matching_never_raises_contrast_without_end():
    from kornia.color import rgb_to_lab

    from perpetual.drift import Anchor, match_colour

    g = torch.Generator().manual_seed(0)
    busy = torch.rand(1, 3, 32, 32, generator=g)  # frame 0: a wide spread of colours
    anchor = Anchor(busy, torch.ones(1, 1, 32, 32), torch.eye(4, dtype=torch.float64), torch.eye(3)[None])
    flat = torch.full((1, 3, 32, 32), 0.5)
    flat[..., :4, :4] = torch.tensor([0.3, 0.4, 0.7]).view(1, 3, 1, 1)  # a patch that survives every keyframe
    image = flat
    for _ in range(100):  # a hundred keyframes over a flat view
        image = match_colour(image, anchor, 0.1)
    lab_before, lab_after = rgb_to_lab(flat)[..., :4, :4].mean((2, 3)), rgb_to_lab(image)[..., :4, :4].mean((2, 3))
    assert (lab_after - lab_before).norm() < 15  # raising the spread each time would saturate it
    mean_gap = (rgb_to_lab(image).mean((2, 3)) - anchor.mean.flatten(1)).norm()
    assert mean_gap < 0.1 * (rgb_to_lab(flat).mean((2, 3)) - anchor.mean.flatten(1)).norm()  # the mean still follows


def test_magnification_is_the_larger_stretch_of_the_source_lookup():
    from perpetual.drift import magnification
    from perpetual.geometry import pixel_grid

    grid = pixel_grid(16, 16)  # (1, 2, 16, 16): u, v
    valid = torch.ones(1, 1, 16, 16, dtype=torch.bool)
    assert torch.allclose(magnification(grid, valid), torch.ones(1, 1, 16, 16))
    stretched = grid / torch.tensor([2.0, 3.0]).view(1, 2, 1, 1)  # 2x across, 3x down
    assert torch.allclose(magnification(stretched, valid), torch.full((1, 1, 16, 16), 3.0), atol=1e-4)
    assert torch.allclose(magnification(grid * 2, valid), torch.ones(1, 1, 16, 16))  # seen smaller: no loss
    edge = stretched.clone()
    edge[:, 0, :, 8:] += 20.0  # a depth edge: the lookup jumps between columns 7 and 8
    assert torch.allclose(magnification(edge, valid), torch.full((1, 1, 16, 16), 3.0), atol=1e-4)
    valid[..., :4, :] = False
    assert torch.equal(magnification(stretched, valid)[..., :4, :], torch.ones(1, 1, 4, 16))


def test_magnification_of_flying_halfway_to_a_wall_is_two():
    from perpetual.drift import magnification
    from perpetual.geometry import intrinsics_from_fov
    from perpetual.render import warp

    K = intrinsics_from_fov(60.0, 32, 32).unsqueeze(0)
    pose = torch.eye(4).unsqueeze(0)
    pose[0, 2, 3] = -0.5  # the wall at depth 1 comes to depth 0.5
    out = warp(torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32), K, pose)
    m = magnification(out.source_uv, out.valid)[..., 4:-4, 4:-4]
    assert torch.allclose(m, torch.full_like(m, 2.0), atol=0.02)


def test_drift_controls_are_the_settings_in_order_and_the_detail_one_sets_the_reference():
    from perpetual.drift import Anchor, AnchorLand, AnchorSky, Draft, MatchColour, RestoreDetail, drift_controls
    from perpetual.geometry import intrinsics_from_fov

    image = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    disparity = torch.ones(1, 1, 24, 24)
    disparity[..., :8, :] = 0.0
    K = intrinsics_from_fov(60.0, 24, 24).unsqueeze(0)
    anchor = Anchor(image, disparity, torch.eye(4, dtype=torch.float64), K)
    assert drift_controls(anchor, anchor_sky=False, anchor_land=False, colour_match=0.0, detail=0.0, seed=0) == []
    every = drift_controls(anchor, anchor_sky=True, anchor_land=True, colour_match=0.1, detail=1.0, seed=5)
    assert [type(c) for c in every] == [AnchorSky, AnchorLand, MatchColour, RestoreDetail]
    controls = drift_controls(anchor, anchor_sky=True, anchor_land=False, colour_match=0.1, detail=1.0, seed=5)
    assert [type(c) for c in controls] == [AnchorSky, MatchColour, RestoreDetail]
    uv = torch.stack(torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="xy")).unsqueeze(0)
    draft = Draft(image * 0.5, disparity, torch.eye(4, dtype=torch.float64), K, 3, uv, torch.ones_like(disparity, dtype=torch.bool), image)
    for control in controls:
        draft = control(draft)
    assert draft.detail is not None and draft.detail.shape == (1, 1, 24, 24)
    sky = (disparity == 0).expand_as(image)
    anchored = torch.where(sky, image, image * 0.5)  # frame 0's sky, then the colour pull (grain spares the sky)
    assert torch.allclose(draft.image[sky], match_colour(anchored, anchor, 0.1)[sky], atol=1e-5)


def test_anchor_land_shows_the_photos_own_pixels_where_it_saw_the_surface():
    """A keyframe of a pan (a turn: every surface keeps its distance) whose land has gone soft
    and whose distances have drifted 3% gets frame 0's pixels and distances back, warped once;
    land frame 0 did not see (beyond its right edge), a nearer surface in front of what it saw,
    and the sky keep the keyframe's own."""
    from perpetual.drift import Anchor, AnchorLand, Draft
    from perpetual.render import warp

    H, W = 32, 48
    image = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(1))
    disparity = torch.full((1, 1, H, W), 0.5)
    disparity[..., :10, :] = 0.0  # sky above
    K = camera(H, W)
    anchor = Anchor(image, disparity, torch.eye(4, dtype=torch.float64), K)
    turned = pose(axis_angle=(0.0, 0.15, 0.0), dtype=torch.float64)[0]  # a turn: new land at one edge
    ideal = warp(image, disparity, K, turned.float().unsqueeze(0), K)
    keyframe_disparity = torch.where(ideal.valid, ideal.disparity * 1.03, torch.full_like(ideal.disparity, 0.5))
    keyframe_disparity[..., :10, :] = 0.0
    keyframe_disparity[..., 20:26, 4:12] = 1.0  # a rock nearer than the land frame 0 saw behind it
    soft = torch.full_like(image, 0.3)
    uv = torch.zeros(1, 2, H, W)
    draft = Draft(soft, keyframe_disparity, turned, K, 5, uv, torch.ones_like(disparity, dtype=torch.bool), soft)
    anchored = AnchorLand(anchor, seam=0, resharpen=False)(draft)  # as read (resharpen: the test after)
    out = anchored.image
    seen = ideal.valid & (keyframe_disparity == ideal.disparity * 1.03) & (keyframe_disparity > 0)
    assert int(seen.sum()) > H * W // 3  # the case under test: most of the land
    assert torch.allclose(out.masked_select(seen), ideal.image.masked_select(seen), atol=1e-6)
    assert torch.equal(anchored.disparity[seen], ideal.disparity[seen])
    kept = ~seen
    assert torch.equal(out.masked_select(kept), soft.masked_select(kept))
    assert torch.equal(anchored.disparity[kept], keyframe_disparity[kept])
    assert bool((~ideal.valid).any()) and bool((keyframe_disparity == 1.0).any())  # both kinds of kept land are there


def test_anchor_land_gives_back_the_sky_a_keyframes_skyline_spread_over():
    """A keyframe at frame 0's pose whose land has spread two rows up into the sky (the quads
    joining skyline to sky, stretched a little at each keyframe) gets frame 0's sky back there,
    colour and disparity 0; a lone pixel frame 0 took for sky inside its land is no skyline and
    stays the keyframe's land."""
    from perpetual.drift import Anchor, AnchorLand, Draft

    H, W = 24, 32
    image = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(3))
    disparity = torch.full((1, 1, H, W), 0.5)
    disparity[..., :10, :] = 0.0
    disparity[..., 16, 20] = 0.0  # a speck of "sky" in frame 0's land
    K = camera(H, W)
    spread = torch.full_like(disparity, 0.5)
    spread[..., :8, :] = 0.0
    soft = torch.full_like(image, 0.3)
    draft = Draft(soft, spread, torch.eye(4, dtype=torch.float64), K, 5, torch.zeros(1, 2, H, W), torch.ones_like(disparity, dtype=torch.bool), soft)
    out = AnchorLand(Anchor(image, disparity, torch.eye(4, dtype=torch.float64), K), seam=0)(draft)
    halo = (slice(None), slice(None), slice(8, 10), slice(None))
    assert bool((out.disparity[halo] == 0).all())
    assert torch.allclose(out.image[halo], image[halo], atol=1e-4)  # the skyline row reads a sliver of land
    assert float(out.disparity[..., 16, 20]) == 0.5 and torch.equal(out.image[..., 16, 20], soft[..., 16, 20])
    assert torch.allclose(out.disparity[..., 10:, :], spread[..., 10:, :], atol=1e-4)  # the land below the skyline stays land


@pytest.mark.parametrize("forward, anchored", [(0.6, True), (1.2, False)])
def test_anchor_land_leaves_land_magnified_past_its_limit_to_the_keyframe(forward, anchored):
    """A wall 2 ahead, approached by 0.6 (seen 1.4x larger) or 1.2 (2.5x): frame 0's own pixels up
    to ``most_magnified`` (2x), beyond it the keyframe's, whose grain travels with its surface
    instead of being drawn anew at every keyframe."""
    from perpetual.drift import Anchor, AnchorLand, Draft
    from perpetual.render import warp

    H, W = 24, 32
    image, wall = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(2)), torch.full((1, 1, H, W), 0.5)
    K = camera(H, W)
    nearer = pose(translation=(0.0, 0.0, -forward), dtype=torch.float64)[0]
    ideal = warp(image, wall, K, nearer.float().unsqueeze(0), K)
    soft = torch.full_like(image, 0.3)
    draft = Draft(soft, ideal.disparity, nearer, K, 5, torch.zeros(1, 2, H, W), ideal.valid, soft)
    out = AnchorLand(Anchor(image, wall, torch.eye(4, dtype=torch.float64), K), seam=0, resharpen=False)(draft).image
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
    assert torch.allclose(out[inner], ideal.image[inner], atol=1e-6) if anchored else torch.equal(out, soft)


def test_with_land_anchored_only_the_colour_of_unseen_land_is_pulled_and_nothing_piles_up():
    """Frame 0 was a dark coat; the view now shows grey land frame 0 saw (restored to its own
    pixels at every keyframe) and land the inpainter tinted yellow. Pulled fifty keyframes over,
    the tint goes to the seen land's grey and the lightness stays; a pull toward frame 0's whole
    statistics would have darkened the unseen land, the seen land's pixels being restored each time."""
    from kornia.color import rgb_to_lab

    from perpetual.drift import Anchor
    from perpetual.geometry import intrinsics_from_fov

    coat = torch.full((1, 3, 16, 32), 0.1)
    anchor = Anchor(coat, torch.ones(1, 1, 16, 32), torch.eye(4, dtype=torch.float64), intrinsics_from_fov(60.0, 16, 32).unsqueeze(0))
    view = torch.full((1, 3, 16, 32), 0.5)
    view[..., 16:] = torch.tensor([0.6, 0.6, 0.3]).view(1, 3, 1, 1)
    anchored = torch.zeros(1, 1, 16, 32)
    anchored[..., :16] = 1.0
    land = torch.ones(1, 1, 16, 32, dtype=torch.bool)
    pulled, whole = view.clone(), view.clone()
    for _ in range(50):
        pulled = torch.where(anchored.bool(), view, match_colour(pulled, anchor, 0.1, anchored, land))
        whole = torch.where(anchored.bool(), view, match_colour(whole, anchor, 0.1))
    before, after, darkened = (rgb_to_lab(x)[..., 16:] for x in (view, pulled, whole))
    assert torch.equal(pulled[..., :16], view[..., :16])
    assert torch.allclose(after[:, 0], before[:, 0], atol=0.05)  # its lightness kept
    assert float(after[:, 1:].abs().max()) < 0.05 * float(before[:, 1:].abs().max())  # its tint gone
    assert float(darkened[:, 0].mean()) < float(before[:, 0].mean()) - 20  # the pile-up it avoids


def test_land_frame_0_showed_keeps_its_colour_however_magnified():
    """A view come close to a yellow facade: most of it is the facade magnified past what
    :class:`AnchorLand` redraws (frame 0's surface, not anchored), the rest a roofline against
    the blue sky that it still redraws. Pulled thirty keyframes over, the facade stays yellow
    when the pull knows it is frame 0's surface (``photo``); pulled toward the redrawn land, it
    turns blue-white. Land invented in the view is still pulled."""
    from kornia.color import rgb_to_lab

    from perpetual.drift import Anchor
    from perpetual.geometry import intrinsics_from_fov

    yellow, bluish = torch.tensor([0.85, 0.75, 0.35]).view(1, 3, 1, 1), torch.tensor([0.45, 0.55, 0.8]).view(1, 3, 1, 1)
    anchor = Anchor(yellow.expand(1, 3, 16, 32).clone(), torch.ones(1, 1, 16, 32), torch.eye(4, dtype=torch.float64),
                    intrinsics_from_fov(60.0, 16, 32).unsqueeze(0))
    view = yellow.expand(1, 3, 16, 32).clone()
    view[..., :4, :] = bluish  # the redrawn roofline, blue with the sky around it
    anchored = torch.zeros(1, 1, 16, 32)
    anchored[..., :4, :] = 1.0
    photo = torch.ones(1, 1, 16, 32)
    photo[..., :, 28:] = 0.0  # a strip the inpainter filled
    land = torch.ones(1, 1, 16, 32, dtype=torch.bool)
    kept, pulled = view.clone(), view.clone()
    for _ in range(30):
        kept = torch.where(anchored.bool(), view, match_colour(kept, anchor, 0.1, anchored, land, photo))
        pulled = torch.where(anchored.bool(), view, match_colour(pulled, anchor, 0.1, anchored, land))
    facade = (..., slice(4, None), slice(0, 28))
    start, held, drifted = (rgb_to_lab(x)[facade].mean(dim=(2, 3)) for x in (view, kept, pulled))
    assert float((held - start).norm()) < 1e-3
    assert float(drifted[0, 2]) < float(start[0, 2]) - 20  # far less yellow (Lab b)
    invented = (..., slice(4, None), slice(28, None))
    assert float(rgb_to_lab(kept)[invented].mean(dim=(2, 3))[0, 2]) < float(start[0, 2]) - 20  # pulled as before


def _rocket(width: int, height: int) -> torch.Tensor:
    skimage = pytest.importorskip("skimage")
    from perpetual.io.images import load_image

    return load_image(Path(skimage.__file__).parent / "data" / "rocket.jpg", width, height)  # a photograph no one here made


def test_resharpen_brings_a_fractional_read_closer_to_the_ideal_shift():
    from benchmarks.bench_resharpen import ideal_shift, psnr

    image = _rocket(192, 128)
    H, W = image.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    uv = torch.stack([xs + 0.5, ys + 0.5]).unsqueeze(0)
    crisp, detail = catmull_rom(crispness(image), uv), catmull_rom(detail_level(image), uv)
    land = torch.ones(1, 1, H, W, dtype=torch.bool)
    land[..., :40, :] = False  # say the top is sky: left as read
    read = catmull_rom(image, uv)
    out = resharpen(read, crisp, detail, land)
    ideal = ideal_shift(image, 0.5)
    lower = (..., slice(56, None), slice(None))
    assert psnr(out[lower], ideal[lower]) > psnr(read[lower], ideal[lower]) + 1.0  # dB: truer, not only sharper
    assert sharpness(out[lower]) > 1.3 * sharpness(read[lower])
    assert torch.equal(out[..., :40, :], read[..., :40, :])
    inner = (..., slice(56, -8), slice(8, -8))
    assert (detail_level(out)[inner] / detail[inner]).median() < 1.05  # the source's look, not beyond
    # An image as crisp as its source is left as it is.
    assert torch.equal(resharpen(image, crispness(image), detail_level(image), land), image)


def test_in_between_frames_keep_their_keyframes_look():
    """Frames rendered from a keyframe at fractional offsets no longer soften, then sharpen again at
    the next keyframe (the flight's pulse), and their sky is left alone."""
    from perpetual.config import RenderSettings
    from perpetual.engine import Flythrough
    from perpetual.paths import forward
    from tests.conftest import model_free

    image, path = _rocket(128, 96), forward(4).with_size(128, 96)

    def flight(resharpen: bool) -> list:
        return list(Flythrough(model_free(render=RenderSettings(resharpen=resharpen))).run(image, path, seed=1))

    plain, kept = flight(False), flight(True)
    assert [f.is_keyframe for f in kept] == [True, False, False, False]
    first = sharpness(image)
    for soft, sharp in zip(plain[1:], kept[1:]):
        assert sharpness(sharp.image) > sharpness(soft.image) + 0.1 * first
        sky = (sharp.disparity == 0).expand_as(sharp.image)
        assert sky.any() and torch.equal(sharp.image[sky], soft.image[sky])
    assert sharpness(kept[1].image) > 0.8 * first


def test_anchor_land_gives_the_photo_read_at_fractional_offsets_back_its_crispness():
    """A keyframe a third of a pixel beside frame 0 shows frame 0's land read between its pixels,
    which takes a cubic read's share of its finest band away; with ``resharpen`` it gets much of
    frame 0's crispness back, as an in-between frame gets its keyframe's: up to frame 0's look
    (its detail level, the band below), never beyond."""
    from perpetual.drift import Anchor, AnchorLand, Draft
    from perpetual.render import warp

    image = _rocket(96, 64)
    H, W = image.shape[-2:]
    disparity = torch.full((1, 1, H, W), 0.5)
    K = camera(H, W)
    anchor = Anchor(image, disparity, torch.eye(4, dtype=torch.float64), K)
    moved = torch.eye(4, dtype=torch.float64)
    moved[0, 3] = (1 / 3) / (float(K[0, 0, 0]) * 0.5)  # a third of a pixel sideways at disparity 0.5
    ideal = warp(image, disparity, K, moved.float().unsqueeze(0), K)
    draft = Draft(ideal.image, ideal.disparity, moved, K, 3, torch.zeros(1, 2, H, W), ideal.valid, image)
    plain, sharp = (AnchorLand(anchor, seam=0, resharpen=on)(draft).image for on in (False, True))
    inner = (..., slice(4, -4), slice(4, -4))
    own = crispness(image)[inner].mean()
    assert crispness(plain)[inner].mean() < 0.8 * own  # the read's loss (0.77), the case under test
    assert crispness(sharp)[inner].mean() > crispness(plain)[inner].mean() + 0.06 * own  # 0.85
    assert detail_level(sharp)[inner].mean() < 1.0 * detail_level(image)[inner].mean()


def test_a_flight_from_a_photo_does_not_soften_at_its_keyframes():
    """The keyframes of a flight over a photo are no longer much softer than the frame before them
    (which was sharpened to the last keyframe's look), so the flight pulses less at its keyframe
    rate and ends sharper. Without the photo's land resharpened at each keyframe, the first
    keyframe of this flight fell 11.6% below the frame before it, and frame 39 kept 0.59 of frame
    0's edge energy (0.67 with it)."""
    from perpetual.engine import Flythrough
    from perpetual.paths import forward
    from perpetual.structure import edge_energy
    from tests.conftest import model_free

    image, path = _rocket(192, 128), forward(40).with_size(192, 128)
    frames = list(Flythrough(model_free()).run(image, path, seed=1))
    energy = [edge_energy(f.image) for f in frames]
    keys = [f.index for f in frames if f.is_keyframe][1:]
    assert len(keys) >= 2  # the case under test
    for k in keys:
        assert energy[k] > 0.9 * energy[k - 1], k
    assert energy[-1] > 0.65 * energy[0]


def test_a_hole_filled_with_frame_0s_pixels_keeps_their_detail_and_gets_no_grain():
    """A hole that :class:`AnchorLand` filled with frame 0's pixels (or the mirror beyond it) is
    first seen with their detail: a smooth lake next to a leafy tree gets no grain from the tree."""
    from perpetual.drift import Draft, RestoreDetail
    from perpetual.geometry import intrinsics_from_fov

    g = torch.Generator().manual_seed(0)
    leafy = 0.3 + 0.4 * torch.rand(1, 3, 32, 16, generator=g)
    lake = 0.6 + 0.03 * torch.rand(1, 1, 32, 16, generator=g).expand(1, 3, 32, 16)  # faint ripples
    image = torch.cat([leafy, lake], dim=3)  # the right half is a hole
    valid = torch.ones(1, 1, 32, 32, dtype=torch.bool)
    valid[..., 16:] = False
    uv = torch.stack(torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="xy")).unsqueeze(0)
    K = intrinsics_from_fov(60.0, 32, 32).unsqueeze(0)
    draft = Draft(image, torch.ones(1, 1, 32, 32), torch.eye(4, dtype=torch.float64), K, 1, uv, valid, image)
    anchored = (~valid).float()
    restore = RestoreDetail(1.0, seed=0)
    grainy, kept = restore(draft), restore(Draft(**{**draft.__dict__, "anchored": anchored}))
    inner = (slice(None), slice(None), slice(None), slice(22, None))  # away from the tree's blur
    # Unanchored, the hole takes the tree's detail as its reference, and grain doubles the ripples.
    assert float((grainy.image - image)[inner].abs().mean()) > 0.005
    assert torch.allclose(kept.image[inner], image[inner], atol=1e-6)
    assert torch.allclose(kept.detail[inner], detail_level(image)[inner])
    assert torch.equal(kept.image[..., :16], grainy.image[..., :16])  # seen pixels as before
