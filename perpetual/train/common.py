"""Shared training plumbing: cached pairs, resumable safetensors checkpoints, progress."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from perpetual.io.files import atomic_path, write_json
from perpetual.train.data import PairSet, make_pairs

__all__ = ["load_or_make_pairs", "load_checkpoint", "save_checkpoint"]


def load_or_make_pairs(file: Path, count: int, size: int, seeds, worlds: int, seed: int) -> PairSet:
    """Pairs from ``file`` if it holds ``count`` pairs of ``size``; else make them and save them there."""
    if file.is_file():
        tensors = load_file(str(file))
        pairs = PairSet(**tensors)
        if len(pairs) == count and pairs.source.shape[-1] == size:
            return pairs
    start = time.perf_counter()
    pairs = make_pairs(count, size, seeds, worlds=worlds, seed=seed)
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file) as tmp:
        save_file({k: v.contiguous() for k, v in pairs.to_dict().items()}, str(tmp))
    print(f"made {count} training pairs at {size}x{size} from {worlds} worlds in {time.perf_counter() - start:.0f} s -> {file}")
    return pairs


def save_checkpoint(folder: Path, model, ema: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, step: int) -> None:
    """Model (``save_pretrained``, safetensors), its EMA weights and the optimizer state; no pickle."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder / "model", safe_serialization=True)
    state = optimizer.state_dict()
    tensors = {f"ema.{k}": v.contiguous() for k, v in ema.items()}
    for i, s in state["state"].items():
        for k, v in s.items():
            tensors[f"opt.{i}.{k}"] = torch.as_tensor(v).contiguous()
    with atomic_path(folder / "state.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_json(folder / "state.json", {"step": step, "param_groups": state["param_groups"]})


def load_checkpoint(folder: Path, model, optimizer: torch.optim.Optimizer) -> tuple[int, dict[str, torch.Tensor]]:
    """Restore what :func:`save_checkpoint` wrote; returns the step and the EMA weights."""
    # from_pretrained maps saved parameter names to this library version's (they may differ).
    model.load_state_dict(type(model).from_pretrained(folder / "model").state_dict())
    tensors = load_file(str(folder / "state.safetensors"))
    meta = json.loads((folder / "state.json").read_text())
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    ema = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
    return int(meta["step"]), ema


def update_ema(ema: dict[str, torch.Tensor], model, decay: float) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            ema[name].mul_(decay).add_(p.detach(), alpha=1 - decay)
