"""Shared training plumbing: cached pairs, resumable safetensors checkpoints, progress."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


from perpetual.io.files import atomic_path, write_json
from perpetual.io.progress import Progress
from perpetual.train.data import TRAIN_SEEDS, PairSet, make_pairs
from perpetual.train.settings import Training

__all__ = ["check_checkpoint", "fit", "load_or_make_pairs", "load_checkpoint", "save_checkpoint", "save_samples",
           "training_pairs"]


def check_checkpoint(folder: Path) -> None:
    """Raise ``ValueError`` (one line) if ``folder`` holds a checkpoint that cannot be resumed:
    checked before any pairs are rendered, so a damaged one costs no time."""
    from perpetual.models.hub import check_folder

    if not (folder / "state.json").exists():
        return
    try:
        meta = json.loads((folder / "state.json").read_text())
        int(meta["step"]), meta["param_groups"]
        json.loads((folder / "model" / "config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"the training checkpoint in {folder} is damaged ({err}); delete that folder to start over") from None
    problems = [c.problem for c in check_folder(folder / "model") if c.problem]
    if problems:
        raise ValueError(f"the training checkpoint in {folder} is damaged (model: {problems[0]}); delete that folder to start over")


def load_or_make_pairs(file: Path, count: int, size: int, seeds, worlds: int, seed: int) -> PairSet:
    """Pairs from ``file`` if it exists (it must hold ``count`` pairs of ``size``: a file that does not
    is never overwritten); else make them from the world (:func:`make_pairs`) and save them there."""
    if file.is_file():
        try:
            pairs = PairSet(**load_file(str(file)))
        except (OSError, SafetensorError, TypeError, ValueError) as err:
            raise ValueError(f"{file} is damaged ({str(err).splitlines()[0][:200]}); delete it and the pairs are made again") from None
        if len(pairs) != count or pairs.source.shape[-1] != size:
            raise ValueError(f"{file} holds {len(pairs)} pairs at {pairs.source.shape[-1]}px, not {count} at {size}px: "
                             "ask for those (--pairs, --size) or use another --out")
        return pairs
    start = time.perf_counter()
    pairs = make_pairs(count, size, seeds, worlds=worlds, seed=seed)
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file) as tmp:
        save_file({k: v.contiguous() for k, v in pairs.to_dict().items()}, str(tmp))
    print(f"made {count} training pairs at {size}x{size} from {worlds} worlds in {time.perf_counter() - start:.0f} s -> {file}")
    return pairs


def training_pairs(out: Path, training: Training, pairs_file: Path | None = None) -> PairSet:
    """The run's pairs (cached in ``out`` unless ``pairs_file`` names another file), after checking
    that a checkpoint in ``out`` can be resumed, so a damaged one costs no rendering time."""
    check_checkpoint(out / "checkpoint")
    file = pairs_file or out / f"pairs-{training.pairs}-{training.size}.safetensors"
    return load_or_make_pairs(file, training.pairs, training.size, TRAIN_SEEDS, worlds=min(24, training.pairs), seed=training.seed)


def save_samples(out: Path, step: int, rows: list[torch.Tensor]) -> None:
    """Stack ``rows`` (each ``(1, 3, h, W)`` in [0, 1]) into ``out/samples/step-NNNNNN.png``."""
    from PIL import Image

    from perpetual.io.images import to_uint8

    (out / "samples").mkdir(exist_ok=True)
    Image.fromarray(to_uint8(torch.cat(rows, dim=2))).save(out / "samples" / f"step-{step:06d}.png")


def save_checkpoint(folder: Path, model, ema: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, step: int) -> None:
    """Model (``save_pretrained``, safetensors), its EMA weights and the optimizer state; no pickle."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder / "model", safe_serialization=True)
    state = optimizer.state_dict()
    tensors = {f"ema.{k}": v.contiguous().cpu() for k, v in ema.items()}
    for i, s in state["state"].items():
        for k, v in s.items():
            tensors[f"opt.{i}.{k}"] = torch.as_tensor(v).contiguous().cpu()
    with atomic_path(folder / "state.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_json(folder / "state.json", {"step": step, "param_groups": state["param_groups"]})


def load_checkpoint(folder: Path, model, optimizer: torch.optim.Optimizer) -> tuple[int, dict[str, torch.Tensor]]:
    """Restore what :func:`save_checkpoint` wrote; returns the step and the EMA weights (on the
    model's device; the optimizer's state goes there too)."""
    # from_pretrained maps saved parameter names to this library version's (they may differ).
    try:
        model.load_state_dict(type(model).from_pretrained(folder / "model", use_safetensors=True).state_dict())
        tensors = load_file(str(folder / "state.safetensors"))
        meta = json.loads((folder / "state.json").read_text())
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, i, name = key.split(".", 2)
                state.setdefault(int(i), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (OSError, SafetensorError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"the training checkpoint in {folder} is damaged ({str(err).strip().splitlines()[0][:200]}); "
                         "delete that folder to start over") from None
    device = next(model.parameters()).device
    ema = {k[4:]: v.to(device) for k, v in tensors.items() if k.startswith("ema.")}
    return int(meta["step"]), ema


def update_ema(ema: dict[str, torch.Tensor], model, decay: float) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            ema[name].mul_(decay).add_(p.detach(), alpha=1 - decay)


def fit(name: str, model, loss_fn: Callable[[torch.Generator], torch.Tensor], out: Path, training: Training,
        on_checkpoint: Callable[[int], None] | None = None) -> Path:
    """The training loop both embedded models share; resumes from ``out/checkpoint``.

    AdamW with a 200-step warm-up and cosine decay, gradient clipping, an EMA of the weights
    (what is saved as the final model), checkpoints every ``training.save_every`` steps. ``model`` trains
    where it is (the caller moves it to its device). ``loss_fn`` draws a batch with the (CPU)
    generator it is given, so a run draws the same batches on every device, and returns the
    loss; ``on_checkpoint(step)`` runs after each checkpoint (e.g. to write sample images).
    Returns ``out/final``.
    """
    steps, lr, seed, save_every = training.steps, training.lr, training.seed, training.save_every
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    start, ema = 0, {n: p.detach().clone() for n, p in model.named_parameters()}
    if (out / "checkpoint" / "state.json").exists():
        start, ema = load_checkpoint(out / "checkpoint", model, optimizer)
        print(f"resuming {name} training at step {start}")
    g = torch.Generator().manual_seed(seed + start)
    model.train()
    began = time.perf_counter()
    bar = Progress(steps, initial=start, unit="step", desc=f"train {name}")
    for step in bar(range(start, steps)):
        for group in optimizer.param_groups:  # warm-up, then cosine decay
            group["lr"] = lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = loss_fn(g)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        update_ema(ema, model, decay=min(0.999, (1 + step) / (10 + step)))
        bar.note(f"loss {loss.item():.4f}")
        if (step + 1) % save_every == 0 or step + 1 == steps:
            save_checkpoint(out / "checkpoint", model, ema, optimizer, step + 1)
            if on_checkpoint is not None:
                model.eval()
                with torch.no_grad():
                    on_checkpoint(step + 1)
                model.train()
    final = out / "final"
    with torch.no_grad():
        for pname, p in model.named_parameters():
            p.copy_(ema[pname])
    model.save_pretrained(final, safe_serialization=True)
    print(f"{name}: {steps - start} steps in {time.perf_counter() - began:.0f} s -> {final}")
    return final
