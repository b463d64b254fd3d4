"""Downloads fetch exactly what loads; ``download --check`` reads a fake Hugging Face cache (no network)."""

from __future__ import annotations

import shutil

import pytest
import torch

from perpetual.cli import main
from perpetual.models.hub import check_folder, select_files, weights_variant

# File listings of the hub repositories the presets name (as their pages list them).
SD15_INPAINTING = [
    ".gitattributes", "README.md", "model_index.json", "sd-v1-5-inpainting.ckpt", "feature_extractor/preprocessor_config.json",
    "safety_checker/config.json", "safety_checker/model.fp16.safetensors", "safety_checker/model.safetensors",
    "safety_checker/pytorch_model.bin", "safety_checker/pytorch_model.fp16.bin", "scheduler/scheduler_config.json",
    "text_encoder/config.json", "text_encoder/model.fp16.safetensors", "text_encoder/model.safetensors", "text_encoder/pytorch_model.bin",
    "text_encoder/pytorch_model.fp16.bin", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json", "unet/config.json", "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.fp16.bin",
    "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors", "unet/openvino/openvino_model.bin",
    "vae/config.json", "vae/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.fp16.bin",
    "vae/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.safetensors",
]
CONTROLNET = [".gitattributes", "README.md", "config.json", "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin",
              "diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.safetensors", "images/control.png"]
BIN_ONLY = ["README.md", "config.json", "diffusion_pytorch_model.bin"]
DEPTH_ANYTHING = [".gitattributes", "README.md", "config.json", "model.safetensors", "preprocessor_config.json", "onnx/model.onnx"]
SHARDED = ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors.index.json",
           "unet/diffusion_pytorch_model-00001-of-00002.safetensors", "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
           "unet/diffusion_pytorch_model.safetensors.index.fp16.json", "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
           "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors"]


def test_one_precision_safetensors_first_and_only_what_the_loop_loads():
    configs = ["model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json", "tokenizer/merges.txt",
               "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json", "unet/config.json", "vae/config.json"]
    half = ["text_encoder/model.fp16.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors"]
    assert select_files(SD15_INPAINTING, fp16=True) == sorted(configs + half)
    assert select_files(SD15_INPAINTING, fp16=False) == sorted(configs + [f.replace(".fp16", "") for f in half])
    assert select_files(CONTROLNET, fp16=True) == ["config.json", "diffusion_pytorch_model.fp16.safetensors"]
    assert select_files(CONTROLNET, fp16=False) == ["config.json", "diffusion_pytorch_model.safetensors"]
    assert select_files(BIN_ONLY, fp16=True) == ["config.json", "diffusion_pytorch_model.bin"]  # nothing else to take
    assert select_files(DEPTH_ANYTHING, fp16=True) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    assert select_files(SHARDED, fp16=True) == ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                                                "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
                                                "unet/diffusion_pytorch_model.safetensors.index.fp16.json"]


def _cache_repo(cache, repo: str, source, files: list[str] | None = None):
    """Put ``files`` of folder ``source`` (all by default) into the cache layout: models--ORG--NAME/{refs,snapshots}."""
    entry = cache / f"models--{repo.replace('/', '--')}"
    snapshot = entry / "snapshots" / ("0" * 40)
    files = files if files is not None else [str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()]
    for name in files:
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / name, snapshot / name)
    (entry / "refs").mkdir(parents=True, exist_ok=True)
    (entry / "refs" / "main").write_text("0" * 40)
    return snapshot


@pytest.fixture
def cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hub"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny SD inpainting pipeline saved in both precisions (as hub repositories hold them), and a tiny depth model."""
    from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel

    from tests.test_depth_parity import _depth_anything
    from tests.test_sd_parity import BLOCKS, UP, _text, _vae
    from tests.architectures import clip_tokenizer

    root = tmp_path_factory.mktemp("hub-source")
    tokenizer = clip_tokenizer(root / "tokenizer")
    torch.manual_seed(0)
    pipe = StableDiffusionInpaintPipeline(
        vae=_vae(), text_encoder=_text(tokenizer), tokenizer=tokenizer, scheduler=DDIMScheduler(),
        unet=UNet2DConditionModel(sample_size=8, in_channels=9, out_channels=4, cross_attention_dim=32, up_block_types=UP, **BLOCKS),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(root / "inpaint")
    pipe.to(torch.float16).save_pretrained(root / "inpaint", variant="fp16")
    model, processor = _depth_anything()
    model.save_pretrained(root / "depth")
    processor.save_pretrained(root / "depth")
    return root


def test_what_a_download_selects_is_what_loads(cache, saved):
    """The fp16 selection of a two-precision repository, alone in the cache, loads by hub id and fills holes."""
    from perpetual.models import InpaintRequest
    from perpetual.models.sd import DiffusersInpainter

    source = saved / "inpaint"
    listing = [str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()]
    chosen = select_files(listing, fp16=True)
    assert all(".fp16." in f for f in chosen if f.endswith(".safetensors")) and len(chosen) < len(listing)
    snapshot = _cache_repo(cache, "someone/tiny-inpainting", source, chosen)
    assert weights_variant(snapshot) == "fp16"
    inpaint = DiffusersInpainter("someone/tiny-inpainting", steps=1, guidance=1.0, device="cpu")
    valid = torch.ones(1, 1, 32, 48, dtype=torch.bool)
    valid[..., 8:20, 8:30] = False
    image = torch.rand(1, 3, 32, 48) * valid
    out = inpaint(InpaintRequest(image, valid, torch.rand(1, 1, 32, 48)))
    assert torch.isfinite(out).all() and torch.equal(out[valid.expand_as(out)], image[valid.expand_as(out)])


def test_download_check_reports_present_missing_and_damaged(cache, saved, tmp_path, capsys):
    _cache_repo(cache, "someone/tiny-inpainting", saved / "inpaint", select_files(
        [str(p.relative_to(saved / "inpaint")) for p in (saved / "inpaint").rglob("*") if p.is_file()], fp16=True))
    depth = _cache_repo(cache, "someone/tiny-depth", saved / "depth")
    config = tmp_path / "c.toml"
    config.write_text('[models]\ndepth = "someone/tiny-depth"\ninpainter = "sd:someone/tiny-inpainting"\ncontrolnet = "someone/absent"\n')

    assert main(["download", "--check", str(config)]) == 1
    out = capsys.readouterr().out
    assert "someone/tiny-inpainting: ready" in out and "someone/tiny-depth: ready" in out
    assert "someone/absent: missing" in out and "2 of 3 models ready" in out and f"perpetual download {config}" in out
    for line in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert any(row.split()[0] == line and "ok" in row for row in out.splitlines() if row.startswith("  ")), line

    weights = depth / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])  # an interrupted copy
    assert main(["download", "--check", str(config)]) == 1
    out = capsys.readouterr().out
    assert "someone/tiny-depth: incomplete" in out and "model.safetensors: truncated" in out


def test_check_folder_names_each_problem(saved, tmp_path):
    folder = tmp_path / "inpaint"
    shutil.copytree(saved / "inpaint", folder)
    assert all(c.problem == "" for c in check_folder(folder))
    for f in (folder / "vae").glob("*.safetensors"):
        f.unlink()
    (folder / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"not a tensor file")
    problems = {c.name: c.problem for c in check_folder(folder)}
    assert problems["vae"].startswith("no weights") and "damaged" in problems["unet"] and problems["text_encoder"] == ""
