"""Host/device placement, checked without a GPU: ``cpu:0`` plays the accelerator (tests/device_check.py).

The first flights on an H100 (2026-11-27) stopped on three host tensors met by device ones
(the haze estimate's quantiles, the sky anchor's rotation, the evaluation's Laplacian); each test
here fails on the code as it was then. MPS's rules are played as far as float64 goes (it has none);
which operators MPS lacks is not.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from perpetual.cli import main
from perpetual.config import apply_overrides, load_config
from perpetual.engine import Flythrough
from perpetual.paths import forward
from perpetual.world import World, WorldSettings
from tests.device_check import DEVICE, StandInDevice, on_device


def test_the_stand_in_raises_where_cuda_would_and_only_there():
    with StandInDevice():
        x = torch.rand(8).to(DEVICE)
        with pytest.raises(RuntimeError, match="same device"):
            torch.quantile(x, torch.linspace(0, 1, 3))
        with pytest.raises(RuntimeError, match="same device"):
            torch.eye(8) @ x
        with pytest.raises(RuntimeError, match="same device"):
            x[:4] = torch.ones(4)
        assert on_device(x * torch.tensor(2.0)) and on_device(x + 1.0)  # host scalars are fine
        mask = torch.arange(8) < 4
        assert on_device(x[mask])  # host indices too
        assert on_device(torch.zeros(3, device=x.device)) and x.device == DEVICE
        assert not on_device(x.cpu()) and not on_device(torch.zeros(3)) and torch.zeros(3).device != DEVICE
        layer = torch.nn.Linear(8, 2).to(DEVICE)
        assert on_device(layer(x))
    with StandInDevice(float64=False):
        assert torch.rand(2, dtype=torch.float64).sum() > 0  # float64 on the host is fine
        with pytest.raises(TypeError, match="float64"):
            torch.rand(2).to(DEVICE).double()


def start(size: int = 64):
    _, view = World(WorldSettings(seed=0)).start_view(size, size)
    return view


def test_the_default_flight_keeps_to_its_device_and_matches_the_host_flight():
    view = start()
    path = forward(16, speed=0.3).with_size(64, 64)
    # Many keyframes: every drift step runs; the clearance guard measures every frame but flies the
    # path as given (slowed, this fast path would make only two keyframes).
    config = apply_overrides(load_config("default"), ["engine.max_age=2", "guard.on_clearance=warn"])

    def fly(device: str) -> list[torch.Tensor]:
        with StandInDevice():
            frames = list(Flythrough(config, device=device).run(view.image, path, view.disparity))
        assert sum(f.is_keyframe for f in frames) >= 5
        assert all(on_device(f.image) == (device == "cpu:0") for f in frames)
        return [f.image.cpu() for f in frames]

    on_accelerator, on_host = fly("cpu:0"), fly("cpu")
    assert all(torch.equal(a, b) for a, b in zip(on_accelerator, on_host))


@pytest.mark.parametrize("float64", [True, False], ids=["cuda-rules", "mps-rules"])
def test_cli_flights_from_a_photo_and_the_autopilot_and_the_evaluation_run_on_a_device(tmp_path, float64):
    photo = tmp_path / "photo.png"
    Image.fromarray((start(96).image[0].permute(1, 2, 0) * 255).round().byte().numpy()).save(photo)
    common = ["--device", "cpu:0", "--frames", "20", "--size", "64x64"]
    with StandInDevice(float64=float64):  # MPS has no float64 (the autopilot's steering used it on the device)
        assert main(["fly", str(photo), *common, "--out", str(tmp_path / "photo.mp4"), "--depth-video"]) == 0
        assert main(["fly", *common, "--trajectory", "autopilot", "--out", str(tmp_path / "auto.mp4")]) == 0
        assert main(["eval", "flight", *common, "--json", str(tmp_path / "eval.json")]) == 0
    assert all((tmp_path / name).stat().st_size > 1000 for name in ("photo.mp4", "photo.depth.mp4", "auto.mp4"))
    assert np.isfinite(json.loads((tmp_path / "eval.json").read_text())["summary"]["short_psnr"])
