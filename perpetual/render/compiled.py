"""Optional ``torch.compile`` of the renderer's per-pixel kernels, with a fallback to eager mode.

The hard renderer's z-buffer, quad table, lookup and cubic colour read are long chains of small
element-wise ops on flat pixel lists; eager PyTorch runs each op as its own pass over memory.
Compiled with inductor they fuse into a few loops (a whole warp about 2x faster on CPU, see
``benchmarks/RESULTS.md``), at a one-time cost per process (tens of seconds cold, a few seconds once inductor's cache on disk is
warm). Where compiling fails (no C++ compiler, an unsupported backend) the renderer warns once
and runs eagerly: the results are the same either way.
"""

from __future__ import annotations

import logging
import warnings
from typing import Callable, TypeVar

import torch

F = TypeVar("F", bound=Callable)

_compiled: dict[Callable, Callable | None] = {}


def maybe_compiled(fn: F, enabled: bool) -> F:
    """``fn`` itself, or where ``enabled`` a compiled twin that falls back to ``fn`` on failure."""
    if not enabled or _compiled.get(fn, True) is None:
        return fn
    if fn not in _compiled:
        # On a CPU-only machine inductor logs a warning about CUDA_HOME that means nothing here.
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        _compiled[fn] = torch.compile(fn, dynamic=True)

    def run(*args, **kwargs):
        compiled = _compiled.get(fn)
        if compiled is not None:
            try:
                return compiled(*args, **kwargs)
            except Exception as error:  # inductor could not build this kernel here
                warnings.warn(f"torch.compile of {fn.__name__} failed, rendering without it: {error}", stacklevel=2)
                _compiled[fn] = None
        return fn(*args, **kwargs)

    return run  # type: ignore[return-value]
