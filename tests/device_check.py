"""A stand-in accelerator on the CPU: catches host/device mix-ups that only a GPU would report.

Under :class:`StandInDevice`, ``cpu:0`` plays the accelerator and plain ``cpu`` the host. A tensor
is on the device once it was moved there (``.to("cpu:0")``, ``.to(device_tensor)``), made there (a
factory given ``device="cpu:0"``), or computed from one that is; its ``.device`` then reads
``cpu:0``, so ``device=x.device`` follows it as on a GPU. An operation that mixes a device tensor
with a host tensor of more than one element raises, as CUDA does (host 0-dim scalars are allowed,
and so are host index tensors, which CUDA's indexing accepts, and ``copy_`` between the two, which
CUDA does; the destination keeps its place). Model parameters are placed by the
module's ``.to``; one never moved under the stand-in (loaded in ways not seen here), and what is
computed from such alone, goes with either side. A flight that runs clean under it will not
stop on ``Expected all tensors to be on the same device`` on a GPU.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

__all__ = ["DEVICE", "StandInDevice", "on_device"]

DEVICE = torch.device("cpu", 0)
_FLAG = "_on_stand_in_device"
_GET_DEVICE = torch.Tensor.device.__get__
_MOVES = {torch.Tensor.to, torch.Tensor.cpu}
_INDEXING = {torch.Tensor.__getitem__}
_SETITEM = {torch.Tensor.__setitem__}
# nn.Module.to's bookkeeping; ``dst.copy_(src)`` copies between devices on CUDA too (load_state_dict)
_UNCHECKED = {torch._has_compatible_shallow_copy_type, torch.Tensor.copy_}


def _place(t: torch.Tensor) -> bool | None:
    """True: on the device; False: on the host; None: not tracked (a parameter never placed under
    the stand-in, or computed from such alone), so it goes with either."""
    return getattr(t, _FLAG, None if isinstance(t, torch.nn.Parameter) else False)


def on_device(t: torch.Tensor) -> bool:
    """Whether ``t`` is on the stand-in device."""
    return _place(t) is True


def _either(t: torch.Tensor) -> bool:
    return _place(t) is None


def _is_device(where) -> bool:
    return where is not None and torch.device(where) == DEVICE


def _tensors(*values) -> list[torch.Tensor]:
    return [x for x in tree_flatten(values)[0] if isinstance(x, torch.Tensor)]


def _mark(result, flag: bool | None) -> None:
    for x in _tensors(result):
        setattr(x, _FLAG, flag)


def _destination(func, args, kwargs) -> bool | None:
    """Where ``.to`` / ``.cpu`` sends a tensor: True device, False host, None where it was."""
    if func is torch.Tensor.cpu:
        return False
    for target in [*args[1:], kwargs.get("device"), kwargs.get("other")]:
        if isinstance(target, torch.Tensor):
            return on_device(target)
        if isinstance(target, (torch.device, str)):
            return _is_device(target)
    return None


class StandInDevice(TorchFunctionMode):
    """Context manager: ``cpu:0`` plays an accelerator; mixing raises ``RuntimeError`` (see the module).

    ``float64=False`` plays Apple's MPS, which has no float64: a float64 tensor on the device raises.
    """

    def __init__(self, float64: bool = True) -> None:
        super().__init__()
        self.float64 = float64

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = self._run(func, args, kwargs or {})
        if not self.float64 and any(on_device(t) and t.dtype == torch.float64 for t in _tensors(result)):
            name = getattr(func, "__qualname__", getattr(func, "__name__", str(func)))
            raise TypeError(f"{name} made a float64 tensor on the device: MPS has no float64")
        return result

    def _run(self, func, args, kwargs):
        if func == _GET_DEVICE:  # a method-wrapper: a new object at each access
            return DEVICE if on_device(args[0]) else func(*args)
        result = func(*args, **kwargs)
        if func in _MOVES:
            if result is args[0] and not isinstance(result, torch.nn.Parameter):  # no copy on the CPU: an alias,
                result = torch.Tensor.view_as(result, result)  # so that the original keeps its place
            where = _destination(func, args, kwargs)
            _mark(result, _place(args[0]) if where is None else where)
            return result
        if kwargs.get("device") is not None:  # a factory told where
            _mark(result, _is_device(kwargs["device"]))
            return result
        if getattr(func, "__name__", "") == "__set__":  # ``param.data = moved`` (nn.Module.to): the place goes along
            if len(args) == 2 and isinstance(args[1], torch.Tensor):
                setattr(args[0], _FLAG, _place(args[1]))
            return result
        if func in _UNCHECKED:
            return result
        if func in _INDEXING:
            checked = _tensors(args[0])
        elif func in _SETITEM:  # the index may stay on the host; the value may not
            checked = _tensors(args[0], args[2])
        else:
            checked = _tensors(args, kwargs)
        device = [t for t in checked if on_device(t)]
        host = [t for t in checked if not on_device(t) and not _either(t) and t.dim() > 0]
        if device and host:
            name = getattr(func, "__qualname__", getattr(func, "__name__", str(func)))
            shapes = ", ".join(str(tuple(t.shape)) for t in host)
            raise RuntimeError(f"Expected all tensors to be on the same device: {name} mixes device tensors with host {shapes}")
        if device:
            _mark(result, True)
        elif checked and all(_either(t) for t in checked):
            _mark(result, None)
        return result
