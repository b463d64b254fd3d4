"""The hard warp replayed as a CUDA graph: one launch instead of hundreds.

A warp is some 870 small tensor ops; on a GPU their launches, not the pixels, set its time (about
the same at 256² as at 512², see ``benchmarks/RESULTS.md``). Off the CPU the
warp has no host sync (:func:`perpetual.render.hard._retry`), so it can be captured once per
input shape into a CUDA graph and replayed. Inputs are copied into the graph's own tensors and
outputs copied out, so results are the same as eager ones. Inputs that require gradients (the
renderer's differentiable use) stay eager; where a capture fails the warp warns once and runs
eagerly.
"""

from __future__ import annotations

import dataclasses
import warnings

import torch

from perpetual.render.hard import hard_warp
from perpetual.render.types import WarpSettings, Warped

_MAX_GRAPHS = 8  # a flight uses one or two shapes; each graph keeps its own intermediate memory
_graphs: dict[tuple, "_Captured | None"] = {}


class _Captured:
    """One shape's warp, captured: copy the inputs in, replay, copy the outputs out."""

    def __init__(self, inputs: tuple[torch.Tensor, ...], size: tuple[int, int], settings: WarpSettings) -> None:
        self.inputs = tuple(t.clone() for t in inputs)
        side = torch.cuda.Stream(inputs[0].device)
        side.wait_stream(torch.cuda.current_stream(inputs[0].device))
        with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
            for _ in range(2):
                hard_warp(*self.inputs, size, settings)
        torch.cuda.current_stream(inputs[0].device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = hard_warp(*self.inputs, size, settings)

    def __call__(self, inputs: tuple[torch.Tensor, ...]) -> Warped:
        for static, value in zip(self.inputs, inputs):
            static.copy_(value)
        self.graph.replay()
        return Warped(*(getattr(self.output, f.name).clone() for f in dataclasses.fields(Warped)))


def graphed_hard_warp(*inputs: torch.Tensor, size: tuple[int, int], settings: WarpSettings) -> Warped:
    """:func:`hard_warp` of ``inputs`` (image, disparity, K, dst_from_src, K_dst) through a CUDA
    graph per input shape where that applies (CUDA tensors, none requiring gradients), else
    eagerly; the same results either way."""
    if inputs[0].device.type != "cuda" or any(t.requires_grad for t in inputs):
        return hard_warp(*inputs, size, settings)
    key = (tuple((t.shape, t.dtype, t.device) for t in inputs), size, dataclasses.astuple(settings))
    if key not in _graphs:
        if len(_graphs) >= _MAX_GRAPHS:
            _graphs.pop(next(iter(_graphs)))
        try:
            _graphs[key] = _Captured(inputs, size, settings)
        except Exception as error:  # capture is not supported here (driver, allocator settings, ...)
            warnings.warn(f"CUDA graph capture of the warp failed, rendering without it: {error}", stacklevel=2)
            _graphs[key] = None
    captured = _graphs[key]
    return hard_warp(*inputs, size, settings) if captured is None else captured(inputs)
