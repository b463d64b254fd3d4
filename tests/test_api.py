"""`import perpetual` gives the entry points, lazily."""

import subprocess
import sys


def test_import_perpetual_is_light_and_exposes_the_entry_points():
    code = ("import sys, perpetual; assert 'torch' not in sys.modules; "
            "[getattr(perpetual, n) for n in perpetual.__all__]; "
            "assert perpetual.Flythrough.__module__ == 'perpetual.engine' and perpetual.forward(3).poses.shape == (3, 4, 4)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unknown_name_is_an_attribute_error():
    import pytest

    import perpetual

    with pytest.raises(AttributeError, match="no attribute"):
        perpetual.fly_to_the_moon  # noqa: B018
