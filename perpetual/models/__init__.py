"""Depth estimators and inpainters behind two small protocols (see ``base``)."""

from perpetual.models.base import ClassicalInpainter, DepthEstimator, GroundPlaneDepth, Inpainter, InpaintRequest

__all__ = ["ClassicalInpainter", "DepthEstimator", "GroundPlaneDepth", "InpaintRequest", "Inpainter"]
