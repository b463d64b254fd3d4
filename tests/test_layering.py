"""The import graph against docs/architecture.md: no module imports from a higher layer, no
import cycles, and the pure tensor layers pull in no model or I/O library."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "perpetual"
HEAVY = ("diffusers", "transformers", "timm", "imageio", "PIL", "huggingface_hub")


def _layers() -> dict[str, int]:
    """Module prefix -> layer, from the table in docs/architecture.md."""
    layers = {}
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|", line)
        if row:
            for name in re.findall(r"`(perpetual[\w.]*)`", row.group(2)):
                layers[name] = int(row.group(1))
    return layers


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every perpetual module -> the perpetual modules it imports (anywhere in its code)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[_module(path)] = {m for m in found if m.split(".")[0] == "perpetual"}
    return graph


def _layer_of(module: str, layers: dict[str, int]) -> int | None:
    prefixes = [p for p in layers if module == p or module.startswith(p + ".")]
    return layers[max(prefixes, key=len)] if prefixes else None


def test_every_module_has_a_layer_and_imports_none_above_its_own():
    layers, graph = _layers(), _imports()
    assert len(set(layers.values())) >= 6, "docs/architecture.md's layer table was not found"
    unplaced = sorted(m for m in graph if m != "perpetual" and _layer_of(m, layers) is None)
    assert not unplaced, f"modules without a layer in docs/architecture.md: {unplaced}"
    upward = [f"{m} (layer {_layer_of(m, layers)}) imports {d} (layer {_layer_of(d, layers)})"
              for m, deps in graph.items() if m != "perpetual" for d in deps
              if d != "perpetual" and _layer_of(d, layers) > _layer_of(m, layers)]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = _imports()
    known = set(graph)
    edges = {m: {d for d in deps if d in known and d != m and m != "perpetual"} for m, deps in graph.items()}
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        for dep in edges[module]:
            assert dep not in trail, "import cycle: " + " -> ".join(trail[trail.index(dep):] + [dep])
            if dep not in done:
                visit(dep, trail + [dep])
        done.add(module)

    for module in edges:
        if module not in done:
            visit(module, [module])


@pytest.mark.parametrize("module", ["perpetual.geometry", "perpetual.frame", "perpetual.render", "perpetual.world", "perpetual.paths"])
def test_pure_layers_import_no_model_or_io_library(module):
    code = f"import sys, {module}; print(','.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip().split(","))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
