"""A slow, obviously-correct renderer to test the fast one against. Plain Python loops.

The source image is a mesh: each 2x2 block of pixel centres is a quad split into two triangles.
Each triangle is projected into the destination, dropped if one of its edges is torn (longer
than ``max_stretch`` destination pixels, ``sqrt(2)`` times that for the diagonal; with
``sky_apart`` a side joining sky to ground never is, see ``_raster_triangle``) or a vertex is
behind the camera, and rasterised at destination pixel centres with a z-buffer on disparity
(nearer wins). Disparity and source position are interpolated linearly in screen space; colour
is read bilinearly at the interpolated source position. Use only on small images.
"""

from __future__ import annotations

import math

import torch

from perpetual.geometry import reproject
from perpetual.render.types import WarpSettings, Warped, check_warp_inputs

_TRIANGLES = ((0, 1, 3), (0, 3, 2))  # corners: 0 = (i, j), 1 = (i, j+1), 2 = (i+1, j), 3 = (i+1, j+1)
# A pixel this close outside a triangle, in barycentric weight (about source pixels: the source
# triangles are unit right triangles), is in it: the fast renderer's lookup bound (``hard._BOUND_EPS``).
# Exact edges (sky at the image border under a pure translation lands on pixel centres) must not
# hang on the last bit of a float.
_INSIDE_EPS = 1e-3


def _bilinear(img: list, u: float, v: float) -> list[float]:
    """Bilinear read of ``img[c][row][col]`` at column ``u``, row ``v`` (inside the image)."""
    H, W = len(img[0]), len(img[0][0])
    x0, y0 = min(int(math.floor(u)), W - 2), min(int(math.floor(v)), H - 2)
    fx, fy = u - x0, v - y0
    return [
        (1 - fx) * (1 - fy) * ch[y0][x0] + fx * (1 - fy) * ch[y0][x0 + 1]
        + (1 - fx) * fy * ch[y0 + 1][x0] + fx * fy * ch[y0 + 1][x0 + 1]
        for ch in img
    ]


def _edge_too_long(pa: tuple, pb: tuple, diagonal: bool, max_stretch: float) -> bool:
    limit = max_stretch * (math.sqrt(2.0) if diagonal else 1.0)
    return math.hypot(pa[0] - pb[0], pa[1] - pb[1]) > limit


def reference_warp(
    image: torch.Tensor,
    disparity: torch.Tensor,
    K: torch.Tensor,
    dst_from_src: torch.Tensor,
    K_dst: torch.Tensor | None = None,
    size: tuple[int, int] | None = None,
    max_stretch: float = WarpSettings.max_stretch,
    sky_apart: bool = False,
) -> Warped:
    """Mesh-rasterise ``image`` ``(B, C, H, W)`` with ``disparity`` ``(B, 1, H, W)`` into the destination.

    Same arguments and result as :func:`perpetual.render.warp` (``max_stretch`` and ``sky_apart``
    as in :class:`~perpetual.render.WarpSettings`).
    """
    K_dst, (Hd, Wd) = check_warp_inputs(image, disparity, K, dst_from_src, K_dst, size)
    B, C, H, W = image.shape
    landed = reproject(disparity, K, dst_from_src, K_dst)
    out_img = torch.zeros(B, C, Hd, Wd, dtype=image.dtype)
    out_disp = torch.zeros(B, 1, Hd, Wd, dtype=image.dtype)
    out_valid = torch.zeros(B, 1, Hd, Wd, dtype=torch.bool)
    out_uv = torch.zeros(B, 2, Hd, Wd, dtype=image.dtype)
    for b in range(B):
        uv = landed.uv[b].tolist()
        disp = landed.disparity[b, 0].tolist()
        front = landed.in_front[b, 0].tolist()
        img = image[b].tolist()
        zbuf = [[-1.0] * Wd for _ in range(Hd)]
        src = [[None] * Wd for _ in range(Hd)]
        for i in range(H - 1):
            for j in range(W - 1):
                quad = ((i, j), (i, j + 1), (i + 1, j), (i + 1, j + 1))
                for tri in _TRIANGLES:
                    verts = [quad[k] for k in tri]
                    if not all(front[r][c] for r, c in verts):
                        continue
                    pts = [(uv[0][r][c], uv[1][r][c]) for r, c in verts]
                    ds = [disp[r][c] for r, c in verts]
                    # In both triangles the edge from vertex 0 to vertex 1 or 2 that joins corners
                    # 0 and 3 is the diagonal. With sky_apart, sides joining sky to ground never tear.
                    edges = ((0, 1), (1, 2), (2, 0))
                    apart = [sky_apart and (ds[a] <= 0) != (ds[c] <= 0) for a, c in edges]
                    if any(
                        _edge_too_long(pts[a], pts[c], {tri[a], tri[c]} == {0, 3}, max_stretch)
                        for (a, c), skip in zip(edges, apart) if not skip
                    ):
                        continue
                    # Sky beside ground: the longest landed side joining the two (see hard._skyline).
                    span = max((math.hypot(pts[a][0] - pts[c][0], pts[a][1] - pts[c][1])
                                for (a, c), joins in zip(edges, apart) if joins and {tri[a], tri[c]} != {0, 3}),
                               default=0.0)
                    _raster_triangle(pts, ds, verts, zbuf, src, Hd, Wd, span, max_stretch)
        for y in range(Hd):
            for x in range(Wd):
                if src[y][x] is None:
                    continue
                su, sv = src[y][x]
                out_img[b, :, y, x] = torch.tensor(_bilinear(img, su, sv), dtype=image.dtype)
                out_disp[b, 0, y, x] = zbuf[y][x]
                out_valid[b, 0, y, x] = True
                out_uv[b, :, y, x] = torch.tensor([su, sv], dtype=image.dtype)
    return Warped(image=out_img, disparity=out_disp, valid=out_valid, source_uv=out_uv)


def _raster_triangle(pts: list, ds: list, verts: list, zbuf: list, src: list, Hd: int, Wd: int, span: float = 0.0,
                     max_stretch: float = WarpSettings.max_stretch) -> None:
    """Rasterise one projected triangle into ``zbuf`` (disparity) and ``src`` (source u, v).

    A triangle joining sky (disparity 0) to ground (``span`` > 0: its longest landed sky-ground
    side) is no surface: a pixel is ground, read from the ground vertices only, within half a
    pixel of them (``(1 - w) * span <= 1/2``, ``w`` the ground vertices' weight), else sky, read
    from the sky vertices only; where ``span`` exceeds ``max_stretch``, only within half a pixel
    of the sky vertices, the gap between them left empty.
    """
    (x0, y0), (x1, y1), (x2, y2) = pts
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    if abs(area) < 1e-12:
        return
    xs, ys = (x0, x1, x2), (y0, y1, y2)
    # Candidates half a pixel around the triangle's box: the weights decide, with their tolerance.
    for y in range(max(0, math.ceil(min(ys) - 0.5)), min(Hd - 1, math.floor(max(ys) + 0.5)) + 1):
        for x in range(max(0, math.ceil(min(xs) - 0.5)), min(Wd - 1, math.floor(max(xs) + 0.5)) + 1):
            w0 = ((x1 - x) * (y2 - y) - (x2 - x) * (y1 - y)) / area
            w1 = ((x2 - x) * (y0 - y) - (x0 - x) * (y2 - y)) / area
            w2 = 1.0 - w0 - w1
            if min(w0, w1, w2) < -_INSIDE_EPS:
                continue
            w = [w0, w1, w2]
            if span > 0:
                ground = sum(wk for wk, dk in zip(w, ds) if dk > 0)
                keep = (1 - ground) * span <= 0.5  # ground pixels keep the ground vertices, sky the sky
                if not keep and span > max_stretch and ground * span > 0.5:
                    continue  # the gap a wide stretch opened: a hole
                w = [wk if (dk > 0) == keep else 0.0 for wk, dk in zip(w, ds)]
                total = sum(w)
                w = [wk / total for wk in w]
            d = sum(wk * dk for wk, dk in zip(w, ds))
            if d > zbuf[y][x]:
                zbuf[y][x] = d
                src[y][x] = (sum(wk * v[1] for wk, v in zip(w, verts)), sum(wk * v[0] for wk, v in zip(w, verts)))
