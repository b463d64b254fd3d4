"""What ``perpetual download`` fetches, and what ``perpetual download --check`` finds in the cache.

A hub repository holds each model several times over (fp32 and fp16, safetensors and pickled
``.bin``, sometimes a single-file checkpoint, ONNX or Flax copies besides). We fetch one copy of
each component: the fp16 variant where the repository has one and fp16 is wanted, else the full
precision; safetensors, and ``.bin`` only where a component has nothing else (loaded with
``weights_only=True`` by the libraries). Of a pipeline (``model_index.json``) we fetch the
components the loop loads: not the safety checker or its feature extractor, nor the root's
single-file checkpoints. The check reads only the local cache: each component's config and
weights are present, safetensors headers parse and their files are as long as the header says.
"""

from __future__ import annotations

import json
import posixpath
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Component", "check_folder", "select_files", "refuse_custom_code", "weights_variant"]

CONFIGS = (".json", ".txt", ".model")
UNUSED = {"safety_checker", "feature_extractor"}  # the loop never runs them; loaded as None


def _kind(name: str) -> tuple[str, str | None] | None:
    """``(format, variant)`` of a weight file or weight index, None for anything else."""
    base = posixpath.basename(name)
    variant = "fp16" if ".fp16." in base or ".fp16-" in base else None
    if base.endswith(".safetensors") or ".safetensors.index" in base:
        return "safetensors", variant
    if base.endswith(".bin") or ".bin.index" in base:
        return "bin", variant
    return None


def _choose_weights(names: list[str], fp16: bool) -> list[str]:
    """One precision and format of a component's weight files (shards and their index included)."""
    kinds = {name: _kind(name) for name in names}
    order = [("safetensors", "fp16"), ("safetensors", None), ("bin", "fp16"), ("bin", None)]
    if not fp16:
        order = [order[1], order[0], order[3], order[2]]
    for kind in order:
        chosen = [name for name, k in kinds.items() if k == kind]
        if chosen:
            return chosen
    return []


def select_files(files: list[str], fp16: bool) -> list[str]:
    """The files of a hub repository listing to fetch (see the module's docstring), sorted."""
    pipeline = "model_index.json" in files
    folders: dict[str, list[str]] = {}
    for name in files:
        folders.setdefault(posixpath.dirname(name), []).append(name)
    keep: list[str] = []
    for folder, names in folders.items():
        if pipeline and (folder.count("/") > 0 or folder in UNUSED):
            continue  # another format's copy (unet/openvino/...) or a component the loop does not load
        if not pipeline and folder:
            continue  # onnx/, openvino/ and the like beside a model at the root
        keep += [n for n in names if n.endswith(CONFIGS) and _kind(n) is None]
        if folder or not pipeline:  # a pipeline's root weights are single-file checkpoints
            keep += _choose_weights(names, fp16)
    return sorted(keep)


def weights_variant(folder: str | Path) -> str | None:
    """``"fp16"`` where a saved model or pipeline holds fp16-variant weights (the libraries then
    load those, and the full precision where a component has only that), else None."""
    return "fp16" if any(_kind(p.name) == ("safetensors", "fp16") or _kind(p.name) == ("bin", "fp16")
                         for p in Path(folder).rglob("*") if p.is_file()) else None


@dataclass(frozen=True)
class Component:
    """One component of a cached model: where it is, its weight bytes, and what is wrong (empty: loadable)."""

    name: str
    size: int
    problem: str = ""


def refuse_custom_code(folder: str | Path) -> None:
    """Raise ``ValueError`` (one line) if a model folder asks to run its own Python code (an
    ``auto_map`` in a config, or ``.py`` files): perpetual never does (``trust_remote_code`` stays
    off), and the libraries would otherwise ask on the terminal."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    code = sorted(p.name for p in folder.rglob("*.py"))
    for config in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(config.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "auto_map" in data:
            code.insert(0, f"auto_map in {config.name}")
    if code:
        raise ValueError(f"{folder}: this model needs its own Python code ({code[0]}), which perpetual never runs; "
                         "use a model the libraries support as they are")


def _safetensors_problem(path: Path) -> str:
    """Why a safetensors file cannot load (empty: it can): a header that does not parse, or a truncated body."""
    try:
        with path.open("rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > path.stat().st_size:
                return f"{path.name}: damaged (header length past the end of the file)"
            header = json.loads(f.read(length))
    except (struct.error, ValueError, UnicodeDecodeError, OSError):
        return f"{path.name}: damaged (not a safetensors file)"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if path.stat().st_size < 8 + length + end:
        return f"{path.name}: truncated ({path.stat().st_size:,} of {8 + length + end:,} bytes)"
    return ""


def _check_component(folder: Path, name: str, needs_weights: bool) -> Component:
    if not folder.is_dir():
        return Component(name, 0, "missing")
    names = [p.name for p in folder.iterdir() if p.is_file()]
    if not any(n.endswith(".json") for n in names):
        return Component(name, 0, "no config file")
    chosen = [folder / n for n in _choose_weights(names, fp16=True)]  # what the loaders take: fp16 first, as weights_variant
    weights = [p for p in chosen if p.suffix != ".json"]
    size = sum(p.stat().st_size for p in weights)
    if needs_weights and not weights:
        return Component(name, 0, "no weights (.safetensors or .bin)")
    for index in (p for p in chosen if p.suffix == ".json"):
        shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        if missing := sorted(s for s in shards if not (folder / s).is_file()):
            return Component(name, size, f"shards missing: {', '.join(missing)}")
    for path in weights:
        if path.suffix == ".safetensors" and (problem := _safetensors_problem(path)):
            return Component(name, size, problem)
    return Component(name, size)


def check_folder(folder: str | Path) -> list[Component]:
    """Each component of a saved model (a pipeline's, or the folder itself) and whether it can load."""
    folder = Path(folder)
    index = folder / "model_index.json"
    if not index.is_file():
        return [_check_component(folder, folder.name, needs_weights=True)]
    try:
        parts = json.loads(index.read_text())
    except ValueError:
        return [Component("model_index.json", 0, "damaged (not JSON)")]
    out = []
    for name, value in sorted(parts.items()):
        if name.startswith("_") or name in UNUSED or not isinstance(value, list) or None in value:
            continue
        out.append(_check_component(folder / name, name, needs_weights=not name.startswith(("scheduler", "tokenizer"))))
    return out


def plan_download(name: str, fp16: bool) -> dict[str, int]:
    """The files of hub repository ``name`` to fetch, with their sizes in bytes (asks the hub; needs network)."""
    from huggingface_hub import HfApi

    from perpetual.models.loading import ModelMissing

    try:
        siblings = HfApi().model_info(name, files_metadata=True).siblings or []
    except Exception as err:  # noqa: BLE001  (offline, unknown id, no permission)
        raise ModelMissing(f"could not list {name!r} on the hub: {err.__class__.__name__}: {str(err).splitlines()[0][:200]}") from None
    sizes = {s.rfilename: int(s.size or 0) for s in siblings}
    return {f: sizes[f] for f in select_files(list(sizes), fp16)}


def fetch(name: str, files: list[str]) -> str:
    """Download ``files`` of hub repository ``name`` into the Hugging Face cache (partial files resume); returns its folder."""
    from huggingface_hub import snapshot_download

    from perpetual.models.loading import ModelMissing

    try:
        return snapshot_download(name, allow_patterns=files)
    except Exception as err:  # noqa: BLE001  (offline, unknown id, no permission, disk full)
        raise ModelMissing(f"could not download {name!r}: {err.__class__.__name__}: {str(err).splitlines()[0][:200]}") from None
