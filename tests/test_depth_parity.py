"""Our depth wrapper against transformers' own image processor + model + post-processing.

One tiny random model per depth family, saved with its image processor's config as the hub
checkpoints are. The reference is transformers' documented use: the processor on a PIL image,
the model, ``post_process_depth_estimation`` to the image's size. Ours takes the same photo as a
float frame ``(B, 3, H, W)``; it must give the same disparity (metric models' depth inverted).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from PIL import Image

from perpetual.models.depth import TransformersDepth
from perpetual.models.registry import quiet_libraries

quiet_libraries()
TOL = 1e-4
IMAGENET = dict(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
HALF = dict(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def _depth_anything():
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    backbone = Dinov2Config(image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                            intermediate_size=37, out_indices=[1, 2, 3, 4], reshape_hidden_states=False, apply_layernorm=True)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 24, 32],
                                 fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="relative")
    processor = DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14, resample=3,
                                  do_pad=False, **IMAGENET)  # Depth Anything V2's preprocessor_config.json, smaller
    return DepthAnythingForDepthEstimation(config), processor


def _dpt():
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, image_size=64, patch_size=16,
                       backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 24, 32], fusion_hidden_size=16, head_in_index=-1)
    processor = DPTImageProcessor(size={"height": 64, "width": 64}, keep_aspect_ratio=False, resample=3, **HALF)
    return DPTForDepthEstimation(config), processor  # Intel/dpt-large's rule: squashed to a square, 0.5 mean / std


def _glpn():
    from transformers import GLPNConfig, GLPNForDepthEstimation, GLPNImageProcessor

    config = GLPNConfig(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1], decoder_hidden_size=8, max_depth=10)
    return GLPNForDepthEstimation(config), GLPNImageProcessor(size_divisor=32, resample=2)  # no mean / std: rescale only


def _zoedepth():
    from transformers import BeitConfig, ZoeDepthConfig, ZoeDepthForDepthEstimation, ZoeDepthImageProcessor

    backbone = BeitConfig(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37,
                          out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False, use_relative_position_bias=True,
                          add_fpn=False)
    config = ZoeDepthConfig(backbone_config=backbone, neck_hidden_sizes=[8, 16, 24, 32], fusion_hidden_size=16, bottleneck_features=16,
                            num_attractors=[4, 4, 4, 4], bin_embedding_dim=16, num_relative_features=8, backbone_hidden_size=32)
    processor = ZoeDepthImageProcessor(size={"height": 64, "width": 96}, keep_aspect_ratio=True, ensure_multiple_of=32, do_pad=True, **HALF)
    return ZoeDepthForDepthEstimation(config), processor


def _depth_pro():
    from transformers import DepthProConfig, DepthProForDepthEstimation, DepthProImageProcessor

    def encoder():
        return dict(model_type="dinov2", hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24, patch_size=4, image_size=32)

    config = DepthProConfig(patch_size=32, fusion_hidden_size=16, intermediate_hook_ids=[1, 0], intermediate_feature_dims=[8, 8],
                            scaled_images_ratios=[0.5, 1.0], scaled_images_overlap_ratios=[0.0, 0.5], scaled_images_feature_dims=[16, 16],
                            use_fov_model=True, image_model_config=encoder(), patch_model_config=encoder(), fov_model_config=encoder())
    model = DepthProForDepthEstimation(config)
    with torch.no_grad():  # a positive inverse depth everywhere, as a trained head gives (a random one is 0 almost everywhere)
        model.head.layers[4].weight.mul_(0.01)
        model.head.layers[4].bias.fill_(1.0)
    return model, DepthProImageProcessor(size={"height": 64, "width": 64})  # post-processing applies the FOV


FAMILIES = {"depth-anything": _depth_anything, "dpt": _dpt, "glpn": _glpn, "zoedepth": _zoedepth, "depth-pro": _depth_pro}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("depth-parity")
    for name, build in FAMILIES.items():
        torch.manual_seed(0)
        model, processor = build()
        with torch.no_grad():  # as if trained: at initialisation the heads give ~1e-7 (DPT-style) or one depth (ZoeDepth)
            for p in model.parameters():
                p.add_(torch.randn_like(p) * (0.002 if name == "depth-pro" else 0.2))
        model.save_pretrained(root / name)
        processor.save_pretrained(root / name)
    return root


def photo(seed: int, size=(45, 70)) -> Image.Image:
    """An 8-bit RGB photo with some structure (a gradient, a block, noise)."""
    g = np.random.default_rng(seed)
    H, W = size
    rows = np.linspace(0, 1, H)[:, None, None]
    img = 0.6 * rows + 0.3 * g.random((H, W, 3))
    img[H // 3: H // 2, W // 4: W // 2] = [0.9, 0.2, 0.1]
    return Image.fromarray((img.clip(0, 1) * 255).round().astype(np.uint8))


def reference(folder, images: list[Image.Image], metric: bool) -> torch.Tensor:
    """transformers' documented use, image by image: processor, model, post-processing to the photo's size."""
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    processor = AutoImageProcessor.from_pretrained(folder)
    model = AutoModelForDepthEstimation.from_pretrained(folder).eval()
    out = []
    for image in images:
        inputs = processor(images=image, return_tensors="pt")
        with torch.no_grad():
            outputs = model(**inputs)
        sizes = [(image.height, image.width)]
        extra = {"source_sizes": sizes} if "source_sizes" in inspect.signature(processor.post_process_depth_estimation).parameters else {}
        depth = processor.post_process_depth_estimation(outputs, target_sizes=sizes, **extra)[0]["predicted_depth"]
        out.append((1.0 / depth.clamp_min(1e-3) if metric else depth).clamp_min(0.0))
    return torch.stack(out).unsqueeze(1)


def as_frames(images: list[Image.Image]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.array(i)).permute(2, 0, 1).float() / 255 for i in images])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_depth_matches_the_image_processor_and_model(folders, family):
    images = [photo(0), photo(1)]
    ours = TransformersDepth(str(folders / family), device="cpu")
    assert ours.processor is not None and ours.metric == (family in ("glpn", "zoedepth", "depth-pro"))
    expected = reference(folders / family, images, ours.metric)
    got = ours(as_frames(images))
    assert got.shape == (2, 1, 45, 70)
    scale = expected.abs().max().item()
    assert scale > 1e-2 and expected.std() > 1e-3 * scale  # a prediction, not a constant
    assert (got - expected).abs().max().item() <= TOL * scale, family


def test_an_explicit_resolution_is_the_processors_size(folders):
    """``models.depth_resolution`` reaches the processor as its square ``size``; its own rule keeps the aspect."""
    from transformers import AutoImageProcessor

    ours = TransformersDepth(str(folders / "depth-anything"), resolution=28, device="cpu")
    seen = []
    ours.model.register_forward_pre_hook(lambda m, a, k: seen.append(k["pixel_values"].shape[-2:]), with_kwargs=True)
    ours(as_frames([photo(0)]))
    processor = AutoImageProcessor.from_pretrained(folders / "depth-anything")
    assert seen[0] == processor(images=photo(0), size={"height": 28, "width": 28}, return_tensors="pt").pixel_values.shape[-2:]
    assert seen[0][0] % 14 == 0 and seen[0][1] % 14 == 0


@pytest.mark.parametrize("family", ["depth-anything", "zoedepth"])
def test_processed_depth_keeps_to_its_device(folders, family):
    """``cpu:0`` plays a GPU (tests/device_check.py): the processor's host tensors never meet device ones."""
    from tests.device_check import StandInDevice, on_device

    frames = as_frames([photo(0)])
    host = TransformersDepth(str(folders / family), device="cpu")(frames)
    with StandInDevice():
        got = TransformersDepth(str(folders / family), device="cpu:0")(frames.to("cpu:0"))
        assert on_device(got)
    assert torch.allclose(got, host, rtol=1e-5, atol=1e-6)
