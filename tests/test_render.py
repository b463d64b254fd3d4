"""The renderer against hand-computed cases, the slow reference, and gradcheck."""

import math

import pytest
import torch

from perpetual.geometry import pixel_grid
from perpetual.render import WarpSettings, reference_warp, warp
from tests.conftest import camera, ground_and_sky, pose, random_scene, smooth_image

MODES = [WarpSettings(mode="hard"), WarpSettings(mode="soft")]


@pytest.mark.parametrize("settings", MODES, ids=["hard", "soft"])
def test_identity_reproduces_input(settings, dtype):
    image = smooth_image(12, 16, dtype=dtype)
    disparity = torch.rand(1, 1, 12, 16, dtype=dtype) + 0.1
    out = warp(image, disparity, camera(12, 16, dtype=dtype), pose(dtype=dtype), settings=settings)
    assert out.valid.all()
    assert torch.allclose(out.image, image, atol=1e-5)
    assert torch.allclose(out.disparity, disparity, atol=1e-5)


def test_plane_under_sideways_move_shifts_by_analytic_pixels():
    H, W = 10, 24
    K = camera(H, W)
    fx = K[0, 0, 0].item()
    ramp = (torch.arange(W, dtype=torch.float32) / W).view(1, 1, 1, W).expand(1, 3, H, W)
    disparity = torch.full((1, 1, H, W), 0.5)
    move = 0.37  # camera moves right: points move left by fx * move * disparity pixels
    shift = fx * move * 0.5
    out = warp(ramp, disparity, K, pose(translation=(-move, 0.0, 0.0)))
    cols = torch.arange(W, dtype=torch.float32)
    expect_valid = cols + shift <= W - 1
    assert torch.equal(out.valid[0, 0], expect_valid.expand(H, W))
    expected = ((cols + shift) / W).expand(H, W)
    assert torch.allclose(out.image[0, 0][out.valid[0, 0]], expected[out.valid[0, 0]], atol=1e-5)


def test_box_hides_plane_and_leaves_analytic_disocclusion_strip():
    H, W = 24, 40
    K = camera(H, W)
    fx = K[0, 0, 0].item()
    disparity = torch.full((1, 1, H, W), 0.5)
    disparity[..., 8:16, 10:20] = 1.0  # box columns 10..19 in front of the plane
    move = 0.45
    out = warp(smooth_image(H, W), disparity, K, pose(translation=(-move, 0.0, 0.0)))
    box_right = 19 - fx * move * 1.0  # where the box's last column lands
    plane_next = 20 - fx * move * 0.5  # where the plane's first column after the box lands
    plane_end = (W - 1) - fx * move * 0.5
    cols = torch.arange(W, dtype=torch.float32)
    strip = (cols > box_right) & (cols < plane_next)
    assert 5 <= int(strip.sum()) <= 7  # the parallax difference is fx * move * 0.5 = 6.2 px
    for row in range(8, 16):
        assert torch.equal(~out.valid[0, 0, row], strip | (cols > plane_end)), f"row {row}"
    # Nearer wins: where the box now stands it hides the plane.
    box_cols = (cols >= 10 - fx * move) & (cols <= box_right)
    assert torch.allclose(out.disparity[0, 0, 8:16][:, box_cols], torch.ones(1), atol=1e-5)
    # Away from the box rows only the right border (out of view) is missing.
    assert torch.equal(~out.valid[0, 0, 2], cols > plane_end)


@pytest.mark.parametrize("settings", MODES, ids=["hard", "soft"])
def test_sky_does_not_move_under_translation(settings):
    image = smooth_image(16, 16)
    sky = torch.zeros(1, 1, 16, 16)
    out = warp(image, sky, camera(16, 16), pose(translation=(3.0, -2.0, 10.0)), settings=settings)
    assert out.valid.all() and torch.allclose(out.image, image, atol=1e-5)


def test_sky_above_ground_stays_put_when_flying_forward():
    H, W = 24, 32
    disparity = ground_and_sky(H, W)
    out = warp(smooth_image(H, W), disparity, camera(H, W), pose(translation=(0.0, 0.0, -0.1)))
    sky_rows = int(H * 0.35)  # rows strictly above the horizon remain sky
    assert out.valid[..., :sky_rows, :].all()
    assert torch.allclose(out.image[..., :sky_rows, :], smooth_image(H, W)[..., :sky_rows, :], atol=1e-5)
    assert (out.disparity[..., :sky_rows, :] == 0).all()


def test_ground_sinking_below_the_sky_leaves_sky_not_a_stretched_surface():
    # A wall at depth 2 below sky rows 0-9; the camera rises so the wall sinks by 2 pixels. The
    # sky (at infinity) stays put, so with sky_apart rows 10-11 now show sky: no sheet of wall
    # stretched up to the sky, which every keyframe of a long flight would keep and stretch again.
    H, W = 24, 32
    disparity = torch.full((1, 1, H, W), 0.5)
    disparity[..., :10, :] = 0.0
    K = camera(H, W)
    T = pose(translation=(0.0, 2.0 / (0.5 * float(K[0, 1, 1])), 0.0))
    stretched = warp(smooth_image(H, W), disparity, K, T)  # sky_apart off: one surface
    assert (stretched.disparity[..., 10:12, :] > 0).all() and (stretched.disparity[..., 10:12, :] < 0.5).all()
    apart, ref_apart = WarpSettings(sky_apart=True), {"sky_apart": True}
    for out in (warp(smooth_image(H, W), disparity, K, T, settings=apart), reference_warp(smooth_image(H, W), disparity, K, T, **ref_apart)):
        assert out.valid[..., :, 1:-1].all()
        assert (out.disparity[..., :12, :] == 0).all()  # sky, down to the wall's new top edge
        assert torch.allclose(out.disparity[..., 12:, 1:-1], torch.tensor(0.5))
        assert torch.allclose(out.image[..., :10, :], smooth_image(H, W)[..., :10, :], atol=1e-5)
    # Sunk by 5 pixels, more than WarpSettings.max_stretch: what the wall uncovers is a hole.
    T = pose(translation=(0.0, 5.0 / (0.5 * float(K[0, 1, 1])), 0.0))
    for out in (warp(smooth_image(H, W), disparity, K, T, settings=apart), reference_warp(smooth_image(H, W), disparity, K, T, **ref_apart)):
        assert out.valid[..., :10, :].all() and (out.disparity[..., :10, :] == 0).all()
        assert not out.valid[..., 10:15, :].any()
        assert out.valid[..., 15:, 1:-1].all() and torch.allclose(out.disparity[..., 15:, 1:-1], torch.tensor(0.5))


def test_no_cracks_flying_forward_a_fifth_of_the_depth():
    H, W = 30, 40
    plane = torch.ones(1, 1, H, W)  # depth 1 everywhere
    out = warp(smooth_image(H, W), plane, camera(H, W), pose(translation=(0.0, 0.0, -0.2)))
    assert out.valid.all()
    # The same for a ground plane: forward by a fifth of its nearest depth leaves no hole in it.
    ground = ground_and_sky(H, W)
    nearest = 1.0 / ground.max().item()
    out = warp(smooth_image(H, W), ground, camera(H, W), pose(translation=(0.0, 0.0, -0.2 * nearest)))
    ref = reference_warp(smooth_image(H, W), ground, camera(H, W), pose(translation=(0.0, 0.0, -0.2 * nearest)))
    assert torch.equal(out.valid, ref.valid)
    assert out.valid[..., : H - 1, 2:-2].all()  # only the bottom row corners leave the view


@pytest.mark.parametrize("last_bits", [3e-7, -3e-7, 1e-6, 1e-5])
def test_fast_and_reference_agree_when_the_mesh_border_lands_on_pixel_centres(last_bits):
    """Flying straight forward, the sky's border rows land on pixel centres exactly: a focal length a few
    ulps off (another CPU's rounding) must not decide which renderer calls them covered."""
    H, W = 30, 40
    ground = ground_and_sky(H, W)
    K = camera(H, W).clone()
    K[..., :2, :] *= 1 + last_bits
    args = (smooth_image(H, W), ground, K, pose(translation=(0.0, 0.0, -0.2 / ground.max().item())))
    assert torch.equal(warp(*args).valid, reference_warp(*args).valid)


def test_soft_mode_cracks_are_what_hard_mode_closes():
    H, W = 30, 40
    args = (smooth_image(H, W), torch.ones(1, 1, H, W), camera(H, W), pose(translation=(0.0, 0.0, -0.4)))
    assert warp(*args).valid.all()
    assert not warp(*args, settings=WarpSettings(mode="soft", min_coverage=0.9)).valid.all()


@pytest.mark.parametrize("sky_apart", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_fast_matches_reference_rasteriser(seed, sky_apart):
    image, disparity, K, T = random_scene(seed)
    fast = warp(image, disparity, K, T, settings=WarpSettings(sky_apart=sky_apart))
    ref = reference_warp(image, disparity, K, T, sky_apart=sky_apart)
    assert (fast.valid == ref.valid).double().mean() >= 0.95
    # Colour and disparity agree wherever both render, away from depth edges (where the bilinear
    # quad and the two triangles of the reference legitimately interpolate differently); with
    # sky_apart, sky beside ground is one.
    pool = torch.nn.functional.max_pool2d
    sky = (disparity == 0).double()
    edge = (pool(disparity, 3, 1, 1) + pool(-disparity, 3, 1, 1)) > 0.2  # (1, 1, H, W) in the source
    if sky_apart:
        edge = edge | ((pool(sky, 3, 1, 1) + pool(-sky, 3, 1, 1)) > 0)
    def near_edge(uv):
        u, v = uv.round().long().unbind(1)
        return edge[0, 0][v.clamp(0, edge.shape[2] - 1), u.clamp(0, edge.shape[3] - 1)].unsqueeze(1)

    smooth = ref.valid & fast.valid & ~near_edge(ref.source_uv) & ~near_edge(fast.source_uv)
    assert smooth.sum() > 0.5 * ref.valid.sum()
    err = (fast.image - ref.image).abs().amax(1, keepdim=True)[smooth]
    assert err.mean() < 2e-3 and err.max() < 0.05
    assert torch.allclose(fast.disparity[smooth], ref.disparity[smooth], rtol=5e-2, atol=1e-3)


def test_batched_equals_one_by_one():
    scenes = [random_scene(s, dtype=torch.float32) for s in range(3)]
    batched = warp(*(torch.cat(parts) for parts in zip(*scenes)))
    for b, scene in enumerate(scenes):
        single = warp(*scene)
        assert torch.equal(batched.valid[b], single.valid[0])
        assert torch.allclose(batched.image[b], single.image[0], atol=1e-6)


def test_lookup_blocks_do_not_change_the_warp(monkeypatch):
    # The CPU looks pixels up in cache-sized blocks, an accelerator in one block: same warp.
    import perpetual.render.hard as hard

    scene = random_scene(3, dtype=torch.float32)
    one_block = warp(*scene, settings=WarpSettings(sampling="cubic"))
    monkeypatch.setattr(hard, "_CHUNK", 97)  # many blocks, the last one short
    blocks = warp(*scene, settings=WarpSettings(sampling="cubic"))
    for name in ("image", "disparity", "valid", "source_uv"):
        assert torch.equal(getattr(one_block, name), getattr(blocks, name)), name


def test_sync_free_retry_gives_the_same_warp(monkeypatch):
    # Off the CPU the retry lookup runs on every pixel (no nonzero, so no host sync): same warp.
    import perpetual.render.hard as hard

    for seed in range(4):
        scene = random_scene(seed, dtype=torch.float32)
        synced = warp(*scene, settings=WarpSettings(sampling="cubic"))
        monkeypatch.setattr(hard, "_sync_free", lambda device: True)
        free = warp(*scene, settings=WarpSettings(sampling="cubic"))
        monkeypatch.undo()
        for name in ("image", "disparity", "valid", "source_uv"):
            assert torch.equal(getattr(synced, name), getattr(free, name)), (seed, name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graph_replays_give_the_eager_warp():
    from perpetual.render import graphed

    graphed._graphs.clear()
    for sampling in ("bilinear", "cubic"):
        for seed in range(3):  # one shape: captured once, then replayed on new inputs
            scene = [t.cuda() for t in random_scene(seed, dtype=torch.float32)]
            eager = warp(*scene, settings=WarpSettings(sampling=sampling, graph=False))
            replayed = warp(*scene, settings=WarpSettings(sampling=sampling))
            assert torch.equal(eager.valid, replayed.valid), (sampling, seed)
            for name in ("image", "disparity", "source_uv"):
                assert torch.allclose(getattr(eager, name), getattr(replayed, name), atol=1e-5), (sampling, seed, name)
    assert len(graphed._graphs) == 2 and all(g is not None for g in graphed._graphs.values())


def test_destination_intrinsics_and_size():
    H, W = 8, 10
    ramp = pixel_grid(H, W)[:, :1].expand(1, 3, H, W) / W  # colour = column / W
    K = camera(H, W)
    K2 = K.clone()
    K2[:, :2] *= 2.0
    K2[:, :2, 2] = K[:, :2, 2] * 2.0 + 0.5  # pixel centres at integers: c' = 2c + 0.5
    out = warp(ramp, torch.full((1, 1, H, W), 0.5), K, pose(), K2, size=(2 * H, 2 * W))
    assert out.image.shape == (1, 3, 2 * H, 2 * W)
    cols = (torch.arange(2 * W, dtype=torch.float32) - 0.5) / 2.0  # source column of each output column
    inside = (cols >= 0) & (cols <= W - 1)
    assert torch.equal(out.valid[0, 0, 1:-1], inside.expand(2 * H - 2, 2 * W))
    assert torch.allclose(out.image[0, 0, 3][inside], cols[inside] / W, atol=1e-5)


def test_invalid_pixels_are_zero_and_nothing_is_nan():
    image, disparity, K, _ = random_scene(0, dtype=torch.float32)
    for T in (pose(translation=(0.0, 0.0, -5.0)), pose(translation=(0.0, 0.0, 3.0)), pose(axis_angle=(0.0, math.pi, 0.0))):
        for settings in MODES:
            out = warp(image, disparity, K, T, settings=settings)
            for t in (out.image, out.disparity, out.source_uv):
                assert torch.isfinite(t).all()
            assert (out.image[~out.valid.expand_as(out.image)] == 0).all()
            assert (out.disparity[~out.valid] == 0).all()


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_gradcheck_reaches_image_disparity_and_pose(mode):
    H, W = 5, 6
    gen = torch.Generator().manual_seed(0)
    K = camera(H, W, dtype=torch.float64)
    image = torch.rand(1, 3, H, W, generator=gen, dtype=torch.float64, requires_grad=True)
    disparity = (torch.rand(1, 1, H, W, generator=gen, dtype=torch.float64) * 0.4 + 0.6).requires_grad_()
    T = pose((0.13, 0.05, -0.07), (0.01, -0.02, 0.01), torch.float64).requires_grad_()
    settings = WarpSettings(mode=mode)

    def render(i, d, t):
        out = warp(i, d, K, t, settings=settings)
        return out.image, out.disparity

    assert torch.autograd.gradcheck(render, (image, disparity, T), atol=1e-6, rtol=1e-4)
    out = render(image, disparity, T)
    (out[0].sum() + out[1].sum()).backward()
    for x in (image, disparity, T):
        assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "args, message",
    [
        ((torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4)), "disparity must have shape"),
        ((torch.zeros(3, 4, 4), torch.zeros(1, 1, 4, 4)), "image must have shape"),
        ((torch.zeros(1, 3, 1, 4), torch.zeros(1, 1, 1, 4)), "at least 2x2"),
    ],
)
def test_bad_inputs_raise_value_errors(args, message):
    with pytest.raises(ValueError, match=message):
        warp(*args, camera(4, 4), pose())


def test_singular_intrinsics_raise_a_value_error():
    with pytest.raises(ValueError, match="invertible"):
        warp(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4), torch.zeros(1, 3, 3), pose())


def test_warp_off_the_cpu_needs_no_host_sync(monkeypatch):
    # What a CUDA graph cannot capture: reading a device value on the host (item, nonzero, error
    # checks) and copying Python data to the device (tensors made from lists). Recorded on the CPU
    # with the accelerator's code path.
    from torch.utils._python_dispatch import TorchDispatchMode

    import perpetual.render.hard as hard
    from perpetual.render.types import check_warp_inputs

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.bad = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = str(func)
            if any(k in name for k in ("nonzero", "_local_scalar_dense", "_linalg_check_errors", "masked_select")):
                self.bad.add(name)
            if "lift_fresh" in name and out.dim() > 0:
                self.bad.add(name)
            return out

    monkeypatch.setattr(hard, "_sync_free", lambda device: True)
    scene = random_scene(0, dtype=torch.float32)
    K_dst, size = check_warp_inputs(*scene, None, None)
    for sampling, sky_apart in (("bilinear", False), ("cubic", False), ("cubic", True)):
        with Record() as record:
            hard.hard_warp(*scene, K_dst, size, WarpSettings(sampling=sampling, sky_apart=sky_apart))
        assert not record.bad, (sampling, sky_apart, record.bad)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="mode"):
        WarpSettings(mode="fuzzy")
    with pytest.raises(ValueError, match="max_stretch"):
        WarpSettings(max_stretch=0.5)


@pytest.mark.parametrize("sampling", ["bilinear", "cubic"])
def test_compiled_renderer_matches_eager(sampling):
    scenes = [random_scene(s, dtype=torch.float32) for s in range(2)]
    args = [torch.cat(parts) for parts in zip(*scenes)]
    eager = warp(*args, settings=WarpSettings(sampling=sampling))
    compiled = warp(*args, settings=WarpSettings(sampling=sampling, compile=True))
    assert (compiled.valid == eager.valid).double().mean() > 0.995  # fused maths may tip a borderline pixel
    both = compiled.valid & eager.valid
    assert torch.allclose(compiled.image * both, eager.image * both, atol=1e-4)
    assert torch.allclose(compiled.disparity * both, eager.disparity * both, atol=1e-5)


def test_renderer_falls_back_to_eager_where_compiling_fails(monkeypatch):
    from perpetual.render import compiled

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(compiled, "_compiled", {})
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: broken)
    scene = random_scene(0, dtype=torch.float32)
    with pytest.warns(UserWarning, match="rendering without it"):
        out = warp(*scene, settings=WarpSettings(compile=True))
    expected = warp(*scene)
    assert torch.equal(out.valid, expected.valid) and torch.equal(out.image, expected.image)
