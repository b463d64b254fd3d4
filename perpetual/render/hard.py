"""The hard renderer: z-buffered splat, crack closing, then exact lookup on a quad mesh.

The source image is read as a mesh of bilinear quads between pixel centres (the same surface
``reference.py`` rasterises as triangles), and each destination pixel looks up where it lies on it:

1. Forward-project every source pixel into the destination (sky moves by rotation only).
2. Z-buffer at the nearest destination pixel: each destination pixel records the nearest source
   pixel that landed on it (its disparity and index packed in one integer key).
3. Close the cracks that magnification leaves between splats: an empty pixel takes the nearest of
   its 3x3 neighbours' source pixels.
4. From that source pixel, Newton steps on the bilinear quads of landed positions find the exact
   sub-pixel source point that lands on the destination pixel; colour is sampled there, never
   splatted, so magnified frames stay sharp and crack-free (bilinear, or clamped Catmull-Rom
   away from depth edges, see ``WarpSettings.sampling``).
5. Valid where the lookup converged (lands within a fraction of a pixel), stays inside the
   source image, and does not read across a torn link (a depth edge, see
   ``WarpSettings.max_stretch``). Disocclusions fail one of these and stay invalid. With
   ``WarpSettings.sky_apart``, sky and ground are never one surface: where they meet, each keeps
   its own footprint (``_skyline``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from perpetual.geometry import Projection, reproject
from perpetual.render.compiled import maybe_compiled
from perpetual.render.sampling import catmull_rom, sample
from perpetual.render.types import WarpSettings, Warped

# Corners of a bilinear quad as (du, dv) offsets: 00, 01 (right), 10 (below), 11.
_CORNERS = ((0, 0), (1, 0), (0, 1), (1, 1))
# Bilinear weights below this do not count as reading a corner.
_WEIGHT_EPS = 1e-3
# Lookups this close outside the source image (rounding) still count as inside.
_BOUND_EPS = 1e-3
# Z-buffer keys: quantised disparity in the high bits, source pixel index in the low bits.
_INDEX_BITS = 26
_DISPARITY_SCALE = 2.0**20
_MAX_STEP = 1.0  # largest Newton step, in source pixels
_CHUNK = 32768  # pixels per lookup block
_NEARER = 0.02  # a neighbour's surface is "clearly nearer" with a disparity this much larger


def _pool3x3(x: torch.Tensor, pad: float) -> torch.Tensor:
    """3x3 maximum filter of ``(B, C, H, W)``; separable, much faster than ``max_pool2d`` on CPU."""
    p = F.pad(x, (1, 1, 1, 1), value=pad)
    rows = torch.maximum(torch.maximum(p[..., :, :-2], p[..., :, 1:-1]), p[..., :, 2:])
    return torch.maximum(torch.maximum(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :])


def splat_nearest(landed: Projection, size: tuple[int, int]) -> torch.Tensor:
    """Z-buffer the source pixels at their nearest destination pixel.

    Returns ``(B, 1, Hd, Wd)`` int64 keys: ``-1`` where nothing landed, else the nearest source
    pixel's quantised disparity (high bits) and flat index ``y * W + x`` (low bits).
    """
    B, _, H, W = landed.uv.shape
    if H * W >= 2**_INDEX_BITS:
        raise ValueError(f"source image too large for the z-buffer: {H}x{W}")
    Hd, Wd = size
    u = landed.uv[:, 0].round()
    v = landed.uv[:, 1].round()
    inside = landed.in_front[:, 0] & (u >= 0) & (u <= Wd - 1) & (v >= 0) & (v <= Hd - 1)
    batch = torch.arange(B, device=u.device).view(B, 1, 1)
    target = (batch * Hd + v.long().clamp(0, Hd - 1)) * Wd + u.long().clamp(0, Wd - 1)
    dump = B * Hd * Wd  # one extra slot takes every point that lands outside
    target = torch.where(inside, target, torch.full_like(target, dump))
    depth_key = (landed.disparity[:, 0].detach() * _DISPARITY_SCALE).floor().long()
    source = torch.arange(H * W, device=u.device).view(1, H, W)
    key = (depth_key << _INDEX_BITS) | source
    zbuf = torch.full((dump + 1,), -1, dtype=torch.long, device=u.device)
    zbuf = zbuf.scatter_reduce(0, target.flatten(), key.flatten(), reduce="amax")
    return zbuf[:dump].view(B, 1, Hd, Wd)


def nearest_around(keys: torch.Tensor, passes: int) -> torch.Tensor:
    """The nearest source pixel among each pixel's 3x3 neighbours (itself included).

    This closes the cracks magnification leaves between splats, including those through which a
    farther surface shows. Each further pass fills pixels still empty from their neighbours.
    ``keys`` and the result are ``(B, 1, H, W)`` int64 z-buffer keys, -1 empty.
    """
    if passes == 0:
        return keys
    keys = _pool3x3(keys, -1)
    for _ in range(passes - 1):
        keys = torch.where(keys < 0, _pool3x3(keys, -1), keys)
    return keys


class QuadMesh:
    """The source pixels' landed positions as bilinear quads, one table row set per quad.

    For the quad between pixels ``(x, y)`` and ``(x + 1, y + 1)`` with landed corners
    ``c00, c01, c10, c11`` the landed point at ``(fx, fy)`` is ``c00 + fx e + fy f + fx fy g``
    (``e = c01 - c00``, ``f = c10 - c00``, ``g = c11 - c10 - c01 + c00``), for u, v and the
    destination disparity alike. The table also holds which of the quad's six corner pairs are
    torn. Lookups work on flat lists of N destination pixels: tensors ``(C, N)``.
    """

    def __init__(self, landed: Projection, size: tuple[int, int], settings: WarpSettings) -> None:
        B, _, self.H, self.W = landed.uv.shape
        self.Hd = size[0]
        uvd = torch.cat([landed.uv, landed.disparity], dim=1).transpose(0, 1)  # (3, B, H, W)
        self.table = maybe_compiled(quad_table, settings.compile)(uvd, settings.max_stretch, settings.sky_apart)

    def read(self, batch: torch.Tensor, s: torch.Tensor, rows: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Table rows ``(rows, N)`` of the quads holding source points ``s`` ``(2, N)``, and ``fx, fy``."""
        x0 = s[0:1].floor().clamp(0, self.W - 2)
        y0 = s[1:2].floor().clamp(0, self.H - 2)
        index = (batch * ((self.H - 1) * (self.W - 1)) + (y0 * (self.W - 1) + x0).long())[0]
        return self.table[:rows].index_select(1, index), (s[0:1] - x0).clamp(0, 1), (s[1:2] - y0).clamp(0, 1)


def quad_table(uvd: torch.Tensor, max_stretch: float, sky_apart: bool = False) -> torch.Tensor:
    """The :class:`QuadMesh` table ``(13, B * (H - 1) * (W - 1))`` of landed ``u, v, d`` ``(3, B, H, W)``.

    Rows: u, v of c00, e, f, g (0-7); d of c00, e, f, g (8-11); torn code (12), with the sky
    corners when ``sky_apart`` (``WarpSettings.sky_apart``).
    """
    c00, c01 = uvd[..., :-1, :-1], uvd[..., :-1, 1:]
    c10, c11 = uvd[..., 1:, :-1], uvd[..., 1:, 1:]
    e, f = c01 - c00, c10 - c00
    g = c11 - c10 - e
    # Corner pairs as differences of landed positions, in the order of _PAIRS.
    pairs = (e, e + g, f, f + g, e + f + g, f - e)
    torn = [(p[0:1] ** 2 + p[1:2] ** 2 > limit**2) for p, limit in zip(pairs, _PAIR_LIMITS(max_stretch))]
    if sky_apart:  # links between sky and ground are no surface (see _skyline), never torn by length
        sky = [c[2:3] <= 0 for c in (c00, c01, c10, c11)]
        torn = [t & ~(sky[i] ^ sky[j]) for t, (i, j) in zip(torn, _PAIRS)] + sky  # sky flags: bits _SKY_BIT..
    code = sum(t.to(uvd.dtype) * float(2**k) for k, t in enumerate(torn))
    rows = [c00[:2], e[:2], f[:2], g[:2], c00[2:], e[2:], f[2:], g[2:], code]
    return torch.cat(rows).reshape(13, -1)


def _PAIR_LIMITS(max_stretch: float) -> tuple[float, ...]:
    diagonal = max_stretch * math.sqrt(2.0)
    return (max_stretch,) * 4 + (diagonal, diagonal)


# Corner pairs (top, bottom, left, right, diagonal, anti-diagonal) as corner indices 00, 01, 10, 11.
_PAIRS = ((0, 1), (2, 3), (0, 2), (1, 3), (0, 3), (1, 2))
# Bits of the torn code from here on: which corners (00, 01, 10, 11) are sky.
_SKY_BIT = 6
_TORN_BITS = (1 << _SKY_BIT) - 1


@dataclass
class _Lookup:
    """Result of :func:`lookup` for N pixels: source points ``s (2, N)``, destination disparity
    ``(1, N)`` and validity ``(1, N)``."""

    s: torch.Tensor
    disparity: torch.Tensor
    valid: torch.Tensor


def lookup(mesh: QuadMesh, pixels: torch.Tensor, keys: torch.Tensor, width: int, settings: WarpSettings) -> _Lookup:
    """Newton steps to the source points that land on destination pixels ``pixels`` ``(N,)``.

    ``pixels`` are flat indices ``(b * Hd + y) * width + x`` into the destination, ``keys`` ``(N,)``
    their z-buffer keys: the source pixel each starts from. Each step solves the bilinear quad's
    Jacobian at the current point (a quad-mesh rasteriser run backwards); a step moves at most
    one pixel.
    """
    dtype = mesh.table.dtype
    per_image = mesh.Hd * width
    batch = (pixels // per_image).view(1, -1)
    rest = pixels % per_image
    target = torch.stack([rest % width, rest // width]).to(dtype)
    source = keys.clamp_min(0) & ((1 << _INDEX_BITS) - 1)
    s = torch.stack([source % mesh.W, source // mesh.W]).to(dtype)
    for _ in range(settings.iterations):
        q, fx, fy = mesh.read(batch, s)
        c00, e, f, g = q[0:2], q[2:4], q[4:6], q[6:8]
        ddx, ddy = e + fy * g, f + fx * g  # (2, N) columns of the Jacobian
        r = target - (c00 + fx * ddx + fy * f)
        det = ddx[0:1] * ddy[1:2] - ddy[0:1] * ddx[1:2]
        solvable = det.abs() > 1e-12
        inv_det = torch.where(solvable, det, torch.ones_like(det)).reciprocal() * solvable
        step = torch.cat([ddy[1:2] * r[0:1] - ddy[0:1] * r[1:2], ddx[0:1] * r[1:2] - ddx[1:2] * r[0:1]]) * inv_det
        s = s + step.clamp(-_MAX_STEP, _MAX_STEP)
    q, fx, fy = mesh.read(batch, s, rows=13)
    fxy = fx * fy
    at = q[0:2] + fx * q[2:4] + fy * q[4:6] + fxy * q[6:8]
    disparity = q[8:9] + fx * q[9:10] + fy * q[10:11] + fxy * q[11:12]
    e = _BOUND_EPS
    inside = (s[0:1] >= -e) & (s[0:1] <= mesh.W - 1 + e) & (s[1:2] >= -e) & (s[1:2] <= mesh.H - 1 + e)
    r = at - target
    miss = r[0:1] ** 2 + r[1:2] ** 2
    valid = inside & (miss <= settings.max_reprojection_error**2) & ~torn(q[12:13], fx, fy)
    if not settings.sky_apart:
        return _Lookup(s=s, disparity=disparity, valid=valid)
    mixed = _joins_sky_to_ground(q[12:13])
    if not _sync_free(s.device) and not torch.compiler.is_compiling():  # only the few pixels at skylines
        index = torch.nonzero(mixed[0])[:, 0]
        if index.numel():
            s[:, index], disparity[:, index], valid[:, index] = _skyline(
                q[:, index], s[:, index], fx[:, index], fy[:, index], disparity[:, index], valid[:, index], settings.max_stretch)
    else:  # no host sync: every pixel, kept where its quad joins sky to ground
        s, disparity, valid = _skyline(q, s, fx, fy, disparity, valid, settings.max_stretch)
    return _Lookup(s=s, disparity=disparity, valid=valid)


def _joins_sky_to_ground(code: torch.Tensor) -> torch.Tensor:
    """Where a quad's torn ``code`` (any shape) says some corners are sky and some ground."""
    corners = (code / 2**_SKY_BIT).floor()  # the four sky bits, 0-15
    return (corners > 0) & (corners < 15)


def _skyline(q: torch.Tensor, s: torch.Tensor, fx: torch.Tensor, fy: torch.Tensor, disparity: torch.Tensor,
             valid: torch.Tensor, max_stretch: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reads in quads that join ground to sky: each keeps its own disparity, colour and footprint.

    Sky is at infinity, so the quad between a skyline pixel and the sky beside it is no surface:
    read as one, forward flight stretches it (the sky stays put while the land moves), the ground
    smears into the sky, and every keyframe keeps the smear. Here the ground corners cover half a
    pixel around where they land: a read is ground where ``(1 - w) * L <= 1/2`` (``w`` the ground
    corners' bilinear weight, ``L`` the quad's longest landed sky-ground link), with disparity
    and colour from the ground corners only. Elsewhere it is sky (disparity 0, colour from the sky
    corners): the sky fills the gap the motion opened behind the skyline while ``L`` is at most
    ``max_stretch``; a wider gap (flying over a ridge uncovers the land behind it) is a hole, as
    any torn link leaves. Returns the source points ``(2, N)`` to read colour at, the disparity
    and the validity ``(1, N)``; ``q`` ``(13, N)`` are the quads' table rows, ``s`` the points
    found, the rest ``(1, N)``.
    """
    code = q[12:13].long()
    sky = [((code >> (_SKY_BIT + k)) & 1).bool() for k in range(4)]
    weight = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]
    c00, e, f, g = q[0:2], q[2:4], q[4:6], q[6:8]
    landed = (c00, c00 + e, c00 + f, c00 + e + f + g)
    d00, de, df, dg = q[8:9], q[9:10], q[10:11], q[11:12]
    corner_d = (d00, d00 + de, d00 + df, d00 + de + df + dg)
    mixed = _joins_sky_to_ground(q[12:13])
    span = torch.zeros_like(fx)
    for i, j in _PAIRS[:4]:  # the sides
        joins = sky[i] ^ sky[j]
        length = ((landed[i] - landed[j]) ** 2).sum(0, keepdim=True).sqrt()
        span = torch.maximum(span, torch.where(joins, length, torch.zeros_like(length)))
    zero = torch.zeros_like(fx)
    ground_w = sum(torch.where(k, zero, w) for k, w in zip(sky, weight))
    ground = (1 - ground_w) * span <= 0.5
    gap = ~ground & (span > max_stretch) & (ground_w * span > 0.5)  # beyond the sky corners' half pixel too
    # The class's corners only: their bilinear weights, renormalised.
    own = [torch.where(k == ground, zero, w) for k, w in zip(sky, weight)]
    total = sum(own).clamp_min(1e-12)
    class_d = sum(w * d for w, d in zip(own, corner_d)) / total
    fx_own, fy_own = (own[1] + own[3]) / total, (own[2] + own[3]) / total
    at = s + torch.cat([fx_own - fx, fy_own - fy])
    return torch.where(mixed, at, s), torch.where(mixed, class_d, disparity), valid & ~(mixed & gap)


def torn(code: torch.Tensor, fx: torch.Tensor, fy: torch.Tensor) -> torch.Tensor:
    """Whether bilinear reads at ``(fx, fy)`` ``(1, N)`` mix two corners of a torn pair.

    ``code`` ``(1, N)`` holds the quad's torn pairs as bits (see :class:`QuadMesh`); a pair counts
    only if both its corners are read (weight above a small epsilon). Returns ``(1, N)`` bool.
    """
    active = [((fx if du else 1 - fx) * (fy if dv else 1 - fy)) > _WEIGHT_EPS for du, dv in _CORNERS]
    bits = code.long() & _TORN_BITS
    out = torch.zeros_like(active[0])
    for k, (i, j) in enumerate(_PAIRS):
        out = out | (active[i] & active[j] & ((bits & (1 << k)) != 0))
    return out


def _chunked_lookup(mesh: QuadMesh, pixels: torch.Tensor, keys: torch.Tensor, width: int, settings: WarpSettings) -> _Lookup:
    """:func:`lookup` in blocks of pixels small enough to stay in cache (about 1.5x faster on CPU).

    On an accelerator it runs in one block: there each op is a kernel launch, and blocks would
    multiply the launches until they, not the pixels, set a warp's time.
    """
    run = maybe_compiled(lookup, settings.compile)
    chunk = _CHUNK if pixels.device.type == "cpu" else max(pixels.shape[0], 1)
    parts = [
        run(mesh, pixels[i : i + chunk], keys[i : i + chunk], width, settings)
        for i in range(0, pixels.shape[0], chunk)
    ]
    if len(parts) == 1:
        return parts[0]
    return _Lookup(*(torch.cat([getattr(p, name) for p in parts], dim=1) for name in ("s", "disparity", "valid")))


def _retry(found: _Lookup, mesh: QuadMesh, pixels: torch.Tensor, own: torch.Tensor, retry: torch.Tensor, width: int,
           settings: WarpSettings) -> None:
    """Look the pixels where ``retry`` ``(N,)`` up again, from their own splat ``own`` ``(N,)``; in place.

    On the CPU only those pixels are looked up. Elsewhere every pixel is, and the retried ones
    kept: twice the arithmetic but no host sync (``nonzero``), so a warp can run as one CUDA graph.
    """
    if not _sync_free(pixels.device):
        index = torch.nonzero(retry)[:, 0]
        if index.numel():
            again = _chunked_lookup(mesh, index, own[index], width, settings)
            found.s[:, index] = torch.where(again.valid, again.s, found.s[:, index])
            found.disparity[:, index] = again.disparity
            found.valid[:, index] = again.valid
        return
    again = _chunked_lookup(mesh, pixels, own, width, settings)
    use = retry.view(1, -1)
    found.s = torch.where(use & again.valid, again.s, found.s)
    found.disparity = torch.where(use, again.disparity, found.disparity)
    found.valid = torch.where(use, again.valid, found.valid)


def _sync_free(device: torch.device) -> bool:
    """Whether the warp avoids host syncs on ``device`` (everywhere but the CPU)."""
    return device.type != "cpu"


def cubic_colour(image: torch.Tensor, s: torch.Tensor, code: torch.Tensor, compile: bool = False,
                 sky_apart: bool = False) -> torch.Tensor:
    """Clamped Catmull-Rom reads of ``image`` ``(B, C, H, W)`` at ``s`` ``(B, 2, Hd, Wd)``, bilinear
    where the 4x4 taps could reach across a depth edge (``code`` ``(B * (H - 1) * (W - 1),)``: the
    quads' torn codes, see :func:`quad_table`; a quad torn, or with ``sky_apart`` joining sky to
    ground): sharper, but only where all taps lie on one surface."""
    B, _, H, W = image.shape
    depth_edge = (code.remainder(2**_SKY_BIT) > 0) | _joins_sky_to_ground(code) if sky_apart else code > 0
    near_edge = _pool3x3(depth_edge.to(image.dtype).view(B, 1, H - 1, W - 1), 0.0)
    corner = s.floor().clamp_min(0)
    quad = corner[:, 1].clamp_max(H - 2) * (W - 1) + corner[:, 0].clamp_max(W - 2)
    edge = near_edge.flatten(1).gather(1, quad.long().flatten(1)).view(B, 1, *s.shape[-2:])
    return torch.where(edge > 0, sample(image, s), maybe_compiled(catmull_rom, compile)(image, s))


def hard_warp(
    image: torch.Tensor,
    disparity: torch.Tensor,
    K: torch.Tensor,
    dst_from_src: torch.Tensor,
    K_dst: torch.Tensor,
    size: tuple[int, int],
    settings: WarpSettings,
) -> Warped:
    """See the module docstring; inputs are validated by :func:`perpetual.render.warp`."""
    B, _, H, W = image.shape
    if B > 1 and image.device.type == "cpu" and B * H * W > _CHUNK:  # one image at a time stays in cache
        parts = [
            hard_warp(image[i : i + 1], disparity[i : i + 1], K[i : i + 1], dst_from_src[i : i + 1], K_dst[i : i + 1], size, settings)
            for i in range(B)
        ]
        return Warped(*(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(Warped)))
    Hd, Wd = size
    # 1-3. Forward projection, z-buffer, nearest surface around each pixel.
    landed = reproject(disparity, K, dst_from_src, K_dst)
    own = maybe_compiled(splat_nearest, settings.compile)(landed, size)
    near = nearest_around(own, settings.crack_passes)
    # Start from the pixel's own splat unless a clearly nearer surface landed next to it.
    depth_key = lambda k: (k >> _INDEX_BITS).float()  # noqa: E731
    nearer = (own < 0) | (depth_key(near) > depth_key(own) * (1.0 + _NEARER) + 1.0)
    near = torch.where(nearer, near, own)
    own, near = own.flatten(), near.flatten()
    # 4. Look up every pixel on the nearest surface around it ...
    mesh = QuadMesh(landed, size, settings)
    pixels = torch.arange(B * Hd * Wd, device=image.device)
    found = _chunked_lookup(mesh, pixels, near, Wd, settings)
    found.valid &= (near >= 0).view(1, -1)
    # ... and where that surface does not cover it, on the surface that landed there itself.
    _retry(found, mesh, pixels, own, (~found.valid[0]) & (own >= 0) & (own != near), Wd, settings)
    # 5. Colour at the source points found.
    s = found.s.view(2, B, Hd, Wd).permute(1, 0, 2, 3)
    valid = found.valid.view(1, B, Hd, Wd).permute(1, 0, 2, 3)
    dst_disparity = found.disparity.view(1, B, Hd, Wd).permute(1, 0, 2, 3)
    zero = torch.zeros((), dtype=image.dtype, device=image.device)
    if settings.sampling == "cubic":
        colour = cubic_colour(image, s, mesh.table[12], settings.compile, settings.sky_apart)
    else:
        colour = sample(image, s)
    return Warped(
        image=torch.where(valid, colour, zero),
        disparity=torch.where(valid, dst_disparity, zero),
        valid=valid,
        source_uv=s,
    )
