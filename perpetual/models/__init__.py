"""Depth estimators and inpainters behind two small protocols (see ``base``)."""

from perpetual.models.base import ClassicalInpainter, DepthEstimator, GroundPlaneDepth, Inpainter, InpaintRequest, strength_map

__all__ = ["ClassicalInpainter", "DepthEstimator", "GroundPlaneDepth", "InpaintRequest", "Inpainter", "strength_map"]
