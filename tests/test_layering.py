"""The pure tensor layers must not pull in model or I/O libraries (ARCHITECTURE.md section 8)."""

import subprocess
import sys

import pytest

HEAVY = ("diffusers", "transformers", "timm", "imageio", "PIL", "huggingface_hub")


@pytest.mark.parametrize("module", ["perpetual.geometry", "perpetual.render", "perpetual.world"])
def test_pure_layers_import_no_model_or_io_library(module):
    code = f"import sys, {module}; print(','.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip().split(","))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
