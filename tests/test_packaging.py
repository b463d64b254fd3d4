"""The wheel carries everything a user needs, wherever pip puts it: presets inside the package."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_every_preset_and_the_embedded_weights_inside_the_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("perpetual-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind, suffix in (("cameras", ".json"), ("configs", ".toml")):
        shipped = {Path(n).name for n in names if n.startswith(f"perpetual/{kind}/") and n.endswith(suffix)}
        assert shipped == {p.name for p in (ROOT / kind).glob(f"*{suffix}")}, kind
    assert {"perpetual/weights/depth/model.safetensors", "perpetual/weights/inpainter/diffusion_pytorch_model.safetensors"} <= names
    assert not any(n.startswith(("tests/", "benchmarks/")) or ".data/" in n for n in names)  # nothing outside the package


def test_presets_are_found_through_importlib_resources():
    from perpetual.io.presets import preset_files

    assert set(preset_files("cameras", ".json")) == {p.stem for p in (ROOT / "cameras").glob("*.json")}
    assert set(preset_files("configs", ".toml")) == {p.stem for p in (ROOT / "configs").glob("*.toml")}
