"""The embedded models' architectures: small enough to train on a CPU and ship in the package.

Both are standard library models (a Depth Anything from transformers, a ``UNet2DModel`` from
diffusers), saved with ``save_pretrained``, so they load through the same code as real ones.
"""

from __future__ import annotations

__all__ = ["INPAINT_CHANNELS", "tiny_depth_model", "tiny_inpainter_unet"]

# Noisy RGB (3) + warped RGB (3) + valid mask (1) + completed disparity (1).
INPAINT_CHANNELS = 8


def tiny_depth_model():
    """A 0.5 M-parameter Depth Anything (DINOv2 backbone) predicting relative disparity.

    Patches of 7 pixels (16 x 16 tokens at its 112 x 112 training size): with DINOv2's usual 14,
    8 x 8 tokens smeared every depth edge over half a token and far ground failed.
    """
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(
        image_size=112, patch_size=7, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=128, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=64, neck_hidden_sizes=[16, 32, 48, 64],
        fusion_hidden_size=32, head_hidden_size=16, depth_estimation_type="relative", patch_size=7,
    )
    return DepthAnythingForDepthEstimation(config)


def tiny_inpainter_unet():
    """A pixel-space, fully convolutional ``UNet2DModel`` (about 2.5 M parameters) for 8 input channels.

    Its output layer starts at zero: the model predicts a correction to the classical fill
    (:func:`~perpetual.models.pixel_diffusion.clean_estimate`), so an untrained one is that fill.
    """
    import torch
    from diffusers import UNet2DModel

    unet = UNet2DModel(
        sample_size=64, in_channels=INPAINT_CHANNELS, out_channels=3, block_out_channels=(32, 64, 128),
        layers_per_block=1, down_block_types=("DownBlock2D",) * 3, up_block_types=("UpBlock2D",) * 3, norm_num_groups=8,
    )
    with torch.no_grad():
        unet.conv_out.weight.zero_()
        unet.conv_out.bias.zero_()
    return unet
