"""What a training run is: its settings, one dataclass per model (the CLI's ``perpetual train`` options).

No torch here: the CLI builds its options from these without loading a model library.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DepthTraining", "InpainterTraining", "Training"]


@dataclass(frozen=True)
class Training:
    """What a training run of either embedded model is (``perpetual train`` takes each as an option).

    Attributes:
        steps: optimiser steps in total; a run resumed with more steps goes on from its checkpoint.
        batch: batch size.
        size: the render size of the training pairs, in pixels (a multiple of the depth model's patch, 7).
        pairs: how many training pairs are rendered from the world (cached in the run folder).
        lr: peak learning rate (a 200-step warm-up, then cosine decay).
        seed: seeds the pairs, the model's initial weights and the batches.
        save_every: a checkpoint (and a PNG of samples) every this many steps, and at the last.
        init: fine-tune from this model (a folder, or ``embedded:depth`` / ``embedded:inpainter``)
            instead of random weights (a depth model with coarser patches is carried over to 7-pixel
            ones); empty for random ones.
    """

    steps: int = 3000
    batch: int = 16
    size: int = 112
    pairs: int = 2400
    lr: float = 1e-3
    seed: int = 0
    save_every: int = 500
    init: str = ""


@dataclass(frozen=True)
class DepthTraining(Training):
    """A depth model's training run: :class:`Training`'s settings, and

    Attributes:
        relative: weight of a relative-error term added to the scale-and-shift-invariant loss
            (0: none; the shipped model has none).
        skies: the share of training images whose sky is repainted as a photograph's (sunset,
            dusk, overcast, haze: :func:`perpetual.train.skies.photographic_skies`), every image
            then given a camera's colours (:func:`~perpetual.train.skies.photographic_look`), to
            teach the model a photograph's skies (0: the world's own skies only, as the shipped
            model was trained; fine-tunes with it have not yet beaten it, see RESULTS.md).
    """

    lr: float = 2e-3  # the depth model's own peak rate
    relative: float = 0.0
    skies: float = 0.0


@dataclass(frozen=True)
class InpainterTraining(Training):
    """An inpainter's training run: :class:`Training`'s settings, and

    Attributes:
        crop: the side of the random square crops it trains on, in pixels (at most ``size``).
        visible_weight: loss weight of visible pixels relative to holes.
        high_noise: the share of samples whose timestep is drawn from the noisiest 40% of the
            schedule rather than all of it: those steps decide a few-step sampler's fill (1.0
            trained the shipped model, for 1-step sampling).
    """

    crop: int = 64
    visible_weight: float = 0.1
    high_noise: float = 0.0
