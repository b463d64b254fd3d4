"""Per-keyframe milliseconds and peak memory of each model backend at full size (random weights).

Each backend is built once in its published layout (``tests/architectures.py``, saved
under ``--cache``), loaded by folder through the normal code path, and timed in a process of its
own (so each peak memory is its own): one keyframe inpainted at ``--size``² with ``--steps``
sampling steps, median of ``--repeats`` after a warm-up. Baselines in the same run: the
classical push-pull fill and the embedded depth model at the same size.

CPU here (few steps, for relative figures):
    python benchmarks/bench_models.py --steps 2
GPU (half precision; peak figures are ``torch.cuda.max_memory_allocated``, and reserved in brackets):
    python benchmarks/bench_models.py --device cuda --steps 20 [--compile] [--backends ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

# name -> (what is timed, models it needs from architectures.BUILDERS, inpainter keyword arguments)
BACKENDS = {
    "classical": ("inpainter", [], {}),
    "embedded-depth": ("depth", [], {}),
    "depth-anything-v2-small": ("depth", ["depth-anything-v2-small"], {}),
    "sd15-inpaint": ("inpainter", ["sd15-inpainting"], {}),
    "sd15-controlnet-depth": ("inpainter", ["sd15-inpainting", "sd15-controlnet-depth"], {"controlnet": "sd15-controlnet-depth"}),
    "sd15-adapter-depth": ("inpainter", ["sd15-inpainting", "sd15-depth-adapter"], {"adapter": "sd15-depth-adapter"}),
    "sd15-lcm-fast": ("inpainter", ["sd15-inpainting", "sd15-controlnet-depth"], {"controlnet": "sd15-controlnet-depth", "lcm": True}),
    "sdxl-controlnet-depth": ("inpainter", ["sdxl-inpainting", "sdxl-controlnet-depth"], {"controlnet": "sdxl-controlnet-depth"}),
}
DEFAULT = ["classical", "embedded-depth", "depth-anything-v2-small", "sd15-inpaint", "sd15-controlnet-depth", "sd15-adapter-depth", "sd15-lcm-fast"]


def build(cache: Path, name: str) -> Path:
    """The random-weight folder for ``name`` (built once, kept in ``cache``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the builders are test scaffolding, in tests/
    from tests.architectures import BUILDERS

    folder = cache / name
    if not (folder / "done").exists():
        torch.manual_seed(0)
        start = time.perf_counter()
        BUILDERS[name](folder)
        (folder / "done").write_text("")
        print(f"  built {name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return folder


def make_model(name: str, cache: Path, device: str, steps: int, compile_unet: bool):
    from perpetual.models import ClassicalInpainter
    from perpetual.models.depth import TransformersDepth
    from perpetual.models.sd import DiffusersInpainter

    kind, needs, options = BACKENDS[name]
    folders = {n: str(build(cache, n)) for n in needs}
    if name == "classical":
        return ClassicalInpainter()
    if kind == "depth":
        return TransformersDepth(folders[needs[0]] if needs else "embedded:depth", resolution=518 if needs else None, device=device)
    lcm = options.get("lcm", False)
    model = DiffusersInpainter(
        folders[needs[0]], controlnet=folders.get(options.get("controlnet", ""), ""), adapter=folders.get(options.get("adapter", ""), ""),
        scheduler="lcm" if lcm else "dpm++", steps=4 if lcm else steps, guidance=1.0 if lcm else 7.5, device=device,
    )
    if compile_unet:
        model.pipe.unet = torch.compile(model.pipe.unet)
    return model


def time_one(args: argparse.Namespace) -> dict:
    """Time one backend in this process; returns its figures."""
    from perpetual.models import InpaintRequest
    from perpetual.models.registry import quiet_libraries

    quiet_libraries()
    torch.set_grad_enabled(False)
    model = make_model(args.one, Path(args.cache), args.device, args.steps, args.compile)
    S = args.size
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, S, S, generator=g).to(args.device)
    valid = torch.ones(1, 1, S, S, dtype=torch.bool, device=args.device)
    valid[..., S // 4 : S // 2, S // 3 : 2 * S // 3] = False  # an 8% hole, a typical keyframe
    disparity = torch.rand(1, 1, S, S, generator=g).to(args.device)
    call = (lambda: model(image)) if BACKENDS[args.one][0] == "depth" else (lambda: model(InpaintRequest(image * valid, valid, disparity, "hills", 0)))
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    call()  # warm-up (and compilation)
    sync()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    if args.device == "cuda":  # allocated by tensors; reserved by the caching allocator (what nvidia-smi shows, less the context)
        peak, reserved = torch.cuda.max_memory_allocated() / 2**30, torch.cuda.max_memory_reserved() / 2**30
    else:
        peak, reserved = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, None
    return {"backend": args.one, "ms": 1000 * statistics.median(times), "peak_gib": peak, "reserved_gib": reserved}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=DEFAULT, choices=list(BACKENDS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=2, help="sampling steps (LCM always 4)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    parser.add_argument("--cache", default="runs/bench-models", help="where the random-weight folders are kept")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(time_one(args)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}; {args.size}², {args.steps} steps "
          f"(LCM 4, no guidance; others guidance 7.5, dpm++), median of {args.repeats}{', compiled' if args.compile else ''}")
    memory = "peak GPU GiB (reserved)" if args.device == "cuda" else "peak RSS GiB"
    print(f"{'backend':<26}{'ms/keyframe':>14}{memory:>24}{'vs sd15-inpaint':>18}")
    rows = []
    for name in args.backends:
        flags = [f"--{k}={getattr(args, k)}" for k in ("device", "size", "steps", "repeats", "cache")] + (["--compile"] if args.compile else [])
        done = subprocess.run([sys.executable, __file__, "--one", name, *flags], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name:<26}failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        base = next((r["ms"] for r in rows if r["backend"] == "sd15-inpaint"), None)
        r = rows[-1]
        ratio = f"{r['ms'] / base:.2f}x" if base else "-"
        peak = f"{r['peak_gib']:.2f}" + (f" ({r['reserved_gib']:.2f})" if r["reserved_gib"] is not None else "")
        print(f"{name:<26}{r['ms']:>14.1f}{peak:>24}{ratio:>18}", flush=True)


if __name__ == "__main__":
    main()
