"""The ``perpetual`` command line. It only parses arguments and calls the Python API.

Every user error (bad file, bad setting) prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

from perpetual import __version__

Command = Callable[[argparse.Namespace], int]


def _paths(args: argparse.Namespace) -> int:
    from perpetual.io.camera_files import list_presets, load_camera_path
    from perpetual.io.draw import draw_path

    if args.action == "show":
        if not args.name:
            raise ValueError("perpetual paths show needs a preset name or file, e.g. 'perpetual paths show orbit'")
        out = Path(args.out)
        if out.suffix.lower() != ".png":
            raise ValueError(f"--out {out}: the drawing is a PNG; give a file name ending in .png")
        if out.exists() and Path(args.name).exists() and out.samefile(args.name):
            raise ValueError(f"the output {out} would overwrite the input {args.name}; choose another --out")
        traj = load_camera_path(args.name, frames=args.frames)
        draw_path(traj.path, out)
        print(f"{args.name}: {len(traj.path)} frames, {traj.path.seconds:.1f} s at {traj.path.fps:g} fps -> {args.out}")
        return 0
    from perpetual.io.files import read_json

    for name, file in list_presets().items():
        print(f"{name:<12} {read_json(file).get('description', '')}")
    return 0


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 256x256, got {text!r}") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096) or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size {w}x{h}: width and height must be even numbers from 16 to 4096")
    return w, h


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _seed(text: str) -> int:
    from perpetual.flight import MAX_SEED

    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 2**62, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text}")
    return value


def _trajectory(args: argparse.Namespace):
    from perpetual.flight import load_path

    return load_path(args.trajectory, frames=args.frames, fps=args.fps, fov=args.fov, size=args.size)


def _fly(args: argparse.Namespace) -> int:
    from perpetual.flight import fly

    result = fly(args.image, args.trajectory, args.out, config=args.config, overrides=args.set, prompt=args.prompt, seed=args.seed,
                 frames=args.frames, fps=args.fps, fov=args.fov, size=args.size, depth_video=args.depth_video,
                 save_frames=args.save_frames, device=args.device, resume=args.resume, ply=args.ply)
    for line in result.notes:
        print(f"note: {line}")
    print(result.summary())
    return 0


def _world(args: argparse.Namespace) -> int:
    from perpetual.frame import Frame
    from perpetual.io.outputs import RunOutputs
    from perpetual.io.progress import Progress
    from perpetual.world import World, WorldSettings

    path = _trajectory(args).path
    world = World(WorldSettings(seed=args.seed))
    info = {"start": f"world seed {args.seed}", "trajectory": args.trajectory, "seed": args.seed, "ground_truth": True}
    inputs = (args.trajectory,) if Path(args.trajectory).is_file() else ()
    below = world.first_underground(path.poses, path.intrinsics(), path.height, path.width)
    if below is not None:  # before anything is written: no partial run to resume or clear away
        raise ValueError(f"the camera goes below the ground at frame {below}; pick another --seed or trajectory")
    sinks = dict(depth_video=args.depth_video, save_frames=args.save_frames, run_info=info, resume=args.resume, inputs=inputs)
    with RunOutputs(args.out, path, **sinks) as out:
        first = out.resumed_from.index + 1 if out.resumed_from else 0
        views = world.fly(path.poses, path.intrinsics(), path.height, path.width)
        for i, (view, clearance) in enumerate(Progress(len(path), desc="world")(views)):
            if clearance < 0:
                raise ValueError(f"the camera goes below the ground at frame {i}; pick another --seed or trajectory")
            if i >= first:
                out.add(Frame(i, view.image, view.disparity, path.poses[i], True, 0.0))
    print(f"{out.frames} ground-truth frames -> {args.out}")
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a whole number from 1 to 65535, got {text!r}")
    return int(text)


def _studio(args: argparse.Namespace) -> int:
    from perpetual.studio import serve

    serve(args.host, args.port, workdir=args.workdir, config=args.config, device=args.device)
    return 0


def _batch(args: argparse.Namespace) -> int:
    from perpetual.batch import INSTALL_HINT, load_jobs, run

    try:
        import ray  # noqa: F401
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    if args.cpus and args.address:
        raise ValueError("--cpus sizes the local Ray; a cluster at --address has its own CPUs (leave --cpus out)")
    jobs = load_jobs(args.jobs)
    results = run(jobs, args.out, address=args.address, workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                  gpus_per_worker=args.gpus_per_worker, retries=args.retries, num_cpus=args.cpus)
    width = max(len("job"), *(len(r.name) for r in results))
    print(f"{'job':<{width}}  {'status':<7}  {'frames':>6}  {'made':>6}  {'seconds':>8}  tries  error")
    for r in results:
        print(f"{r.name:<{width}}  {r.status:<7}  {r.frames:>6}  {r.made:>6}  {r.seconds:>8.1f}  {r.attempts:>5}  {r.error}")
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed -> {Path(args.out) / 'summary.json'}")
    return 0 if counts["failed"] == 0 else 1


def _config(args: argparse.Namespace) -> int:
    from perpetual.config import config_presets, describe, load_config, reference

    if args.reference:
        print(reference(), end="")
        return 0
    if args.name is None:
        for name in config_presets():
            print(f"{name:<12} {load_config(name).description}")
        return 0
    config = load_config(args.name)
    print(f"# {args.name}: {config.description}")
    print("\n".join(describe(config)))
    return 0


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def _download(args: argparse.Namespace) -> int:
    from perpetual.config import load_config
    from perpetual.models.names import parse

    models = load_config(args.config).models
    names = [parse(n) for n in (models.depth, models.inpainter, models.controlnet, models.adapter, models.lora)]
    if args.check:
        return _check_downloads([n.source for n in names if n.kind in ("hub", "folder")], args.config)
    wanted = [n.source for n in names if n.needs_download]
    if not wanted:
        print(f"config {args.config}: nothing to download (built-in, embedded or local models only)")
        return 0
    import torch

    from perpetual.models.hub import fetch, plan_download

    fp16 = args.precision == "fp16" or (args.precision == "auto" and torch.cuda.is_available())
    plans = {name: plan_download(name, fp16) for name in wanted}
    for name, files in plans.items():
        print(f"{name}: {len(files)} files, {_gb(sum(files.values()))}")
    print(f"total {_gb(sum(sum(f.values()) for f in plans.values()))} ({'fp16 where a repository has it' if fp16 else 'full precision'})")
    for name, files in plans.items():
        print(f"{name} -> {fetch(name, list(files))}")
    return 0


def _check_downloads(names: list[str], config: str) -> int:
    """Offline: each model's components, present and loadable or not; exit status 1 if any is not."""
    from perpetual.models.hub import check_folder
    from perpetual.models.loading import ModelMissing, resolve

    ready = 0
    for name in names:
        try:
            folder = name if Path(name).is_dir() else resolve(name)
        except ModelMissing:
            print(f"{name}: missing (not in the Hugging Face cache)")
            continue
        parts = check_folder(folder)
        ok = all(not c.problem for c in parts)
        ready += ok
        print(f"{name}: {'ready' if ok else 'incomplete'}, {_gb(sum(c.size for c in parts))} ({folder})")
        for c in parts:
            print(f"  {c.name:<16} {c.problem or 'ok'}" + (f" ({_gb(c.size)})" if c.size else ""))
    print(f"{ready} of {len(names)} models ready" + ("" if ready == len(names) else f"; on a networked machine run 'perpetual download {config}'"))
    return 0 if ready == len(names) else 1


# a training setting's option type, where its default's type is not the rule (positive ints, positive floats, text)
_TRAINING_TYPES: dict[str, Callable[[str], object]] = {"seed": _seed, "high_noise": _fraction, "relative": _fraction, "skies": _fraction}


def _training_options(parser: argparse.ArgumentParser) -> None:
    """One option per field of the training settings, its help the field's docstring: the
    dataclasses hold the defaults (each model's own), so an option left out is None here."""
    from perpetual.config import field_docs
    from perpetual.train.settings import DepthTraining, InpainterTraining, Training

    models = {"depth": DepthTraining, "inpainter": InpainterTraining}
    docs = {**field_docs(Training), **field_docs(DepthTraining), **field_docs(InpainterTraining)}
    for f in dataclasses.fields(DepthTraining) + tuple(f for f in dataclasses.fields(InpainterTraining) if f.name not in DepthTraining.__dataclass_fields__):
        kind = _TRAINING_TYPES.get(f.name) or {int: _positive_int, float: _positive_float}.get(type(f.default), str)
        owners = [m for m, cls in models.items() if f.name in cls.__dataclass_fields__]
        defaults = {m: models[m].__dataclass_fields__[f.name].default for m in owners}
        default = (" (default: " + ", ".join(f"{v!r} {m}" for m, v in defaults.items()) + ")") if len(set(defaults.values())) > 1 \
            else f" (default: {next(iter(defaults.values()))!r})"
        only = f"{owners[0]}: " if len(owners) == 1 else ""
        parser.add_argument("--" + f.name.replace("_", "-"), type=kind, default=None, help=(only + docs.get(f.name, "") + default).replace("%", "%%"))


def _train(args: argparse.Namespace) -> int:
    from perpetual.models.loading import auto_device
    from perpetual.models.registry import quiet_libraries
    from perpetual.train.settings import DepthTraining, InpainterTraining

    quiet_libraries()
    out = Path(args.out or f"runs/{args.model}")
    device = auto_device(args.device)
    cls = DepthTraining if args.model == "depth" else InpainterTraining
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name) is not None}
    others = {f.name for f in dataclasses.fields(DepthTraining) + dataclasses.fields(InpainterTraining)} - set(cls.__dataclass_fields__)
    unused = sorted(name for name in others if getattr(args, name) is not None)
    if unused:
        raise ValueError(f"--{unused[0].replace('_', '-')} is not a setting of {args.model} training; see 'perpetual train --help'")
    training = cls(**given)
    if args.model == "depth":
        from perpetual.train.depth import train_depth

        train_depth(out, training, device=device)
    else:
        from perpetual.train.inpainter import train_inpainter

        train_inpainter(out, training, device=device)
    print(f"to use it: --set models.{args.model}={out / 'final'}")
    return 0


def _eval_models(args: argparse.Namespace) -> int:
    from perpetual.evaluate import eval_depth, eval_inpainter, held_out_pairs, report
    from perpetual.io.files import write_json
    from perpetual.config import load_config
    from perpetual.models.base import ClassicalInpainter, GroundPlaneDepth
    from perpetual.models.names import parse
    from perpetual.models.pixel_diffusion import PixelDiffusionInpainter
    from perpetual.models.registry import load_depth, quiet_libraries

    quiet_libraries()
    settings = load_config(args.config).models
    if args.depth:
        settings = dataclasses.replace(settings, depth=args.depth)
    inpainter = args.inpainter or settings.inpainter
    name = parse(inpainter)
    pixel_diffusion = name.kind != "builtin" and name.backend != "sd"
    if args.inpainter and not pixel_diffusion:
        raise ValueError(f"--inpainter {inpainter}: eval models scores pixel-diffusion inpainters (embedded:inpainter or a trained folder) against the classical fill")
    steps = args.steps or settings.steps or None
    pairs = held_out_pairs(args.pairs, args.size, worlds=args.worlds)
    scores = {}
    if pixel_diffusion:
        scores[f"inpainter {inpainter}"] = eval_inpainter(PixelDiffusionInpainter(inpainter, steps=steps), pairs)
    scores |= {
        "inpainter classical": eval_inpainter(ClassicalInpainter(), pairs),
        f"depth {settings.depth}": eval_depth(load_depth(settings), pairs),
        "depth ground-plane": eval_depth(GroundPlaneDepth(), pairs),
    }
    table, data = report(scores)
    print(f"held-out worlds (seeds 1000+), {len(pairs)} pairs at {args.size}x{args.size}")
    print(table)
    if args.json:
        write_json(args.json, {"pairs": len(pairs), "size": args.size, "scores": data})
    return 0


def _eval_flight(args: argparse.Namespace) -> int:
    from perpetual.config import apply_overrides, load_config
    from perpetual.engine import Flythrough
    from perpetual.flight import autopilot_for
    from perpetual.flight_eval import evaluate_flight
    from perpetual.io.files import write_json
    from perpetual.io.plot import ContactSheet, plot_curves
    from perpetual.world import World, WorldSettings

    for out in (args.json, args.plot, args.contact_sheet):  # before the flight, not after it
        if out and not Path(out).parent.is_dir():
            raise ValueError(f"cannot write {out}: folder {Path(out).parent} does not exist")
    config = apply_overrides(load_config(args.config), args.set)
    trajectory = _trajectory(args)
    autopilot = autopilot_for(trajectory)
    fly = Flythrough(config, device=args.device)
    sheet = ContactSheet() if args.contact_sheet else None
    report = evaluate_flight(World(WorldSettings(seed=args.seed)), fly, trajectory.path, autopilot=autopilot, seed=args.seed,
                             true_start=not args.estimated_start, on_truth=sheet.add if sheet else None)
    summary = report.summary()
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    if args.json:
        write_json(args.json, {"config": config.to_dict(), "trajectory": args.trajectory, "seed": args.seed,
                               "estimated_start": args.estimated_start, **report.to_dict()})
    if args.plot:
        plot_curves(report.series(), args.plot, bands={"sky_fraction": (0.05, 0.6)})
    if sheet is not None:
        sheet.save(args.contact_sheet)
    return 0


def _eval_photo(args: argparse.Namespace) -> int:
    from perpetual.config import apply_overrides, load_config
    from perpetual.engine import Flythrough
    from perpetual.flight import autopilot_for
    from perpetual.io.camera_files import list_presets
    from perpetual.io.files import write_json
    from perpetual.io.images import load_image
    from perpetual.io.plot import ContactSheet
    from perpetual.io.video import colourise_disparity
    from perpetual.photo_eval import evaluate_photo

    names = sorted(list_presets()) if args.trajectory == "all" else args.trajectory.split(",")
    sheets = Path(args.contact_sheets) if args.contact_sheets else None
    if sheets is not None and not sheets.is_dir():
        raise ValueError(f"--contact-sheets {sheets}: not a folder; create it first")
    for out in (args.json,):
        if out and not Path(out).parent.is_dir():
            raise ValueError(f"cannot write {out}: folder {Path(out).parent} does not exist")
    config = apply_overrides(load_config(args.config), args.set)
    runs = [(image, name, _trajectory(argparse.Namespace(**{**vars(args), "trajectory": name}))) for image in args.images for name in names]
    fly = Flythrough(config, device=args.device)
    rows: list[dict] = []
    for image, name, trajectory in runs:
        path = trajectory.path
        sheet = ContactSheet(thumb=96, columns=9)
        every = max(1, -(-(len(path) - 1) // 8))  # nine thumbnails
        show = lambda f: sheet.add(f.index, f.image, colourise_disparity(f.disparity)) if f.index % every == 0 or f.index == len(path) - 1 else None  # noqa: E731
        report = evaluate_photo(load_image(image, path.width, path.height), fly, path, autopilot=autopilot_for(trajectory),
                                seed=args.seed, on_frame=show if sheets else None)
        rows.append({"image": image, "trajectory": name, **report.to_dict()})
        if sheets is not None:
            sheet.save(sheets / f"{Path(image).stem}-{Path(name).stem}.png")
    columns = ["sharpness_min", "sky_ratio_worst", "frames_too_close", "frames_slowed", "frames_paced", "magnified_share_max", "invented_share_max",
               "left_the_photo_at", "path_progress", "path_fitted_by", "targets_met"]
    print("image".ljust(18), "trajectory".ljust(12), *(c.ljust(len(c)) for c in columns))
    for row in rows:
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in (row["summary"][c] for c in columns)]
        print(Path(row["image"]).name[:18].ljust(18), Path(row["trajectory"]).stem[:12].ljust(12), *(v.ljust(len(c)) for v, c in zip(cells, columns)))
    if args.json:
        write_json(args.json, {"config": config.to_dict(), "frames": args.frames, "runs": rows})
    return 0 if all(row["summary"]["targets_met"] for row in rows) else 1


def _add_path_options(p: argparse.ArgumentParser, trajectory: str = "forward", frames: int | None = None) -> None:
    p.add_argument("--trajectory", default=trajectory, help=f"camera path preset name or file (see 'perpetual paths'); default: {trajectory}")
    default_frames = frames or "the trajectory's"
    p.add_argument("--frames", type=_positive_int, default=frames, help=f"number of frames (default: {default_frames})")
    p.add_argument("--fps", type=_positive_float, default=None, help="frames per second (default: the trajectory's)")
    p.add_argument("--fov", type=_positive_float, default=None, help="vertical field of view in degrees (default: the trajectory's)")
    p.add_argument("--size", type=_size, default=None, help="frame size WxH, even numbers (default: the trajectory's, 256x256)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (also picks the world when no image is given)")


def _add_flight_options(p: argparse.ArgumentParser, out_default: str) -> None:
    _add_path_options(p)
    p.add_argument("--out", default=out_default, help=f"output mp4 (default: {out_default}); poses.json and run.json go beside it")
    p.add_argument("--depth-video", action="store_true", help="also write OUT.depth.mp4 (colour-mapped disparity)")
    p.add_argument("--save-frames", action="store_true", help="also write PNG frames into OUT.frames/")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run of the same command from its last checkpoint")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perpetual", description="One image to an endless camera flythrough.")
    parser.add_argument("--version", action="version", version=f"perpetual {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    fly = sub.add_parser("fly", formatter_class=argparse.RawDescriptionHelpFormatter, epilog="examples:\n  perpetual fly photo.jpg --out flight.mp4\n  perpetual fly --frames 300 --trajectory autopilot --depth-video\n  perpetual fly photo.jpg --config sd15-controlnet-depth --prompt \"0: misty forest, 120: alpine lake\"\n  perpetual fly photo.jpg --trajectory flight.poses.json --out again.mp4   # replay a flight's poses", help="render a flythrough from an image, or from the built-in world without one")
    fly.add_argument("image", nargs="?", help="start image (PNG/JPEG/WebP); without it, a procedural world")
    _add_flight_options(fly, "flight.mp4")
    fly.add_argument("--config", default="default", help="pipeline preset name (configs/) or TOML file; default: default")
    fly.add_argument("--ply", default=None, metavar="FILE.ply",
                     help="also write the scene: every keyframe's land as coloured points in the flight's world coordinates (binary PLY)")
    fly.add_argument("--prompt", default="", help="text prompt for text-conditioned inpainters")
    fly.add_argument("--device", default="auto", help="torch device: auto (cuda, else mps, else cpu), cpu, cuda, cuda:1, ...")
    fly.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override one config setting, e.g. --set engine.max_invalid=0.02 (see 'perpetual config NAME')")
    fly.set_defaults(run=_fly)

    world = sub.add_parser("world", formatter_class=argparse.RawDescriptionHelpFormatter, epilog="examples:\n  perpetual world --seed 3 --frames 240 --out truth.mp4", help="render a ground-truth flythrough of the procedural world")
    _add_flight_options(world, "world.mp4")
    world.set_defaults(run=_world)

    batch = sub.add_parser("batch", formatter_class=argparse.RawDescriptionHelpFormatter, epilog="examples:\n  perpetual batch jobs.jsonl --out runs/\n  perpetual batch jobs.jsonl --out /shared/runs --address auto --gpus-per-worker 1   # on a Ray cluster", help="fly many jobs (JSON Lines or TOML) on Ray workers; reruns skip finished jobs and resume unfinished ones")
    batch.add_argument("jobs", help="jobs file: .jsonl (one JSON object per line) or .toml ([[job]] tables); see docs/batch.md")
    batch.add_argument("--out", required=True, help="output folder: one folder per job, and summary.json")
    batch.add_argument("--address", default=None, help="join this Ray cluster (e.g. auto, ray://head:10001); default: a local Ray in this process")
    batch.add_argument("--workers", type=_positive_int, default=None, help="workers to start (default: as many as the CPUs or GPUs hold)")
    batch.add_argument("--cpus-per-worker", type=_positive_int, default=1, help="CPUs (torch threads) each worker asks for; default 1")
    batch.add_argument("--gpus-per-worker", type=_positive_float, default=0, help="GPUs each worker asks for (its models then run on cuda)")
    batch.add_argument("--retries", type=int, choices=range(0, 11), default=2, metavar="0..10", help="times a job whose worker died is retried; default 2")
    batch.add_argument("--cpus", type=_positive_int, default=None, help="CPUs of the local Ray (default: all of this machine's); not with --address")
    batch.set_defaults(run=_batch)

    studio = sub.add_parser("studio", formatter_class=argparse.RawDescriptionHelpFormatter, epilog="examples:\n  perpetual studio            # then open http://localhost:7860\n  perpetual studio --port 8000 --config classical", help="plan, render and fly live in the browser (a local web app)")
    studio.add_argument("--port", type=_port, default=7860, help="port to serve on; default 7860")
    studio.add_argument("--host", default="127.0.0.1", help="address to bind; default 127.0.0.1 (this machine only)")
    studio.add_argument("--config", default="default", help="the config preset the page starts with; default: default")
    studio.add_argument("--workdir", default="perpetual-studio", help="folder for uploads, renders and recordings (renders resume from it)")
    studio.add_argument("--device", default="auto", help="torch device: auto (cuda, else mps, else cpu), cpu, cuda, ...")
    studio.set_defaults(run=_studio)

    train = sub.add_parser("train", formatter_class=argparse.RawDescriptionHelpFormatter, epilog="examples:\n  perpetual train depth --steps 3000 --out runs/depth\n  perpetual train inpainter --init embedded:inpainter --out runs/inp", help="train an embedded model on the procedural world (resumes from --out)")
    train.add_argument("model", choices=["depth", "inpainter"])
    _training_options(train)
    train.add_argument("--out", default=None, help="run folder (default runs/MODEL); training resumes from its checkpoint")
    train.add_argument("--device", default="auto", help="torch device: auto (cuda, else mps, else cpu), cpu, cuda, ...")
    train.set_defaults(run=_train)

    evaluate = sub.add_parser("eval", formatter_class=argparse.RawDescriptionHelpFormatter, epilog="examples:\n  perpetual eval models --config default\n  perpetual eval flight --seed 0 --frames 300 --contact-sheet sheet.png", help="score models on held-out worlds, or a whole flight against the world's truth")
    what = evaluate.add_subparsers(dest="what", metavar="WHAT", required=True)
    models = what.add_parser("models", help="a config's depth model and inpainter vs the classical fill, on held-out pairs")
    models.add_argument("--config", default="default", help="score the depth model and inpainter as this config runs them")
    models.add_argument("--depth", default=None, help="depth model to score (default: the config's)")
    models.add_argument("--inpainter", default=None, help="pixel-diffusion inpainter to score against the classical fill (default: the config's; e.g. runs/inpainter/final)")
    models.add_argument("--steps", type=_positive_int, default=None, help="sampling steps of the inpainter (default: the config's)")
    models.add_argument("--pairs", type=_positive_int, default=300, help="held-out pairs")
    models.add_argument("--worlds", type=_positive_int, default=6, help="held-out worlds they come from")
    models.add_argument("--size", type=_positive_int, default=112)
    models.add_argument("--json", default=None, help="also write the scores to this JSON file")
    models.set_defaults(run=_eval_models)
    flight = what.add_parser("flight", help="fly over the world and score every frame against its true render")
    _add_path_options(flight, trajectory="autopilot", frames=300)
    flight.add_argument("--config", default="default")
    flight.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    flight.add_argument("--device", default="cpu", help="torch device (cpu by default, so scores are comparable across machines)")
    flight.add_argument("--json", default=None, help="write the summary and per-frame curves here")
    flight.add_argument("--plot", default=None, help="write a PNG of the per-frame curves here")
    flight.add_argument("--contact-sheet", default=None, metavar="PNG",
                        help="write the frames scored against the truth (every 50th and the last) over the world's true renders at the same poses")
    flight.add_argument("--estimated-start", action="store_true",
                        help="start from the config's depth estimate of the first view, as a flight from a photo does (default: its true depth)")
    flight.set_defaults(run=_eval_flight)

    photo = what.add_parser("photo", help="fly from photos along camera paths and score every frame against frame 0 (no ground truth)")
    photo.add_argument("images", nargs="+", metavar="IMAGE", help="photos to fly from")
    _add_path_options(photo, trajectory="forward", frames=120)
    photo.set_defaults(size=(384, 256))
    photo.add_argument("--config", default="default")
    photo.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    photo.add_argument("--device", default="cpu", help="torch device (cpu by default, so scores are comparable across machines)")
    photo.add_argument("--json", default=None, help="write every run's summary and per-frame curves here")
    photo.add_argument("--contact-sheets", default=None, metavar="DIR",
                       help="write one contact sheet per photo and path into this folder: frames over their depth maps")
    photo.set_defaults(run=_eval_photo)

    dl = sub.add_parser("download", formatter_class=argparse.RawDescriptionHelpFormatter, epilog="examples:\n  perpetual download sd15-controlnet-depth\n  perpetual download --check sd15-controlnet-depth   # offline: what is cached", help="fetch the models a config names into the Hugging Face cache (needs network)")
    dl.add_argument("config", help="pipeline preset name or TOML file")
    dl.add_argument("--check", action="store_true", help="offline: say which models and components are in the cache and loadable")
    dl.add_argument("--precision", choices=["auto", "fp16", "fp32"], default="auto",
                    help="weights to fetch: fp16 variants where a repository has them, or full precision (auto: fp16 on a CUDA machine)")
    dl.set_defaults(run=_download)

    config = sub.add_parser("config", formatter_class=argparse.RawDescriptionHelpFormatter, epilog="examples:\n  perpetual config\n  perpetual config sd15-inpaint", help="list pipeline presets, or show one's settings with their meaning")
    config.add_argument("name", nargs="?", help="preset name or TOML file")
    config.add_argument("--reference", action="store_true", help="print the configuration reference (docs/configuration.md) in Markdown")
    config.set_defaults(run=_config)

    paths = sub.add_parser("paths", formatter_class=argparse.RawDescriptionHelpFormatter, epilog="examples:\n  perpetual paths\n  perpetual paths show spiral --out spiral.png", help="list camera path presets, or draw one ('paths show NAME')")
    paths.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    paths.add_argument("name", nargs="?", help="preset name or camera path file (for 'show')")
    paths.add_argument("--out", default="path.png", help="PNG to draw into (for 'show')")
    paths.add_argument("--frames", type=int, default=None, help="number of frames (default: the preset's)")
    paths.set_defaults(run=_paths)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except (ValueError, OSError) as err:
        print(f"perpetual {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"perpetual {args.command}: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130


def _resume_hint(args: argparse.Namespace) -> str:
    """What to run after an interrupted command: ``--resume`` only where it left a run to resume."""
    if args.command == "batch":
        return "; run the same command again: finished jobs are skipped, unfinished ones resume"
    if args.command not in ("fly", "world"):
        return ""
    from perpetual.io.outputs import has_unfinished

    if has_unfinished(args.out):
        return "; run the same command with --resume to continue"
    return " before its first checkpoint, and nothing was written; run the same command to start again"


if __name__ == "__main__":
    sys.exit(main())
