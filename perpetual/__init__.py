"""perpetual: one image to an endless camera flythrough (render, refine, repeat)."""

__version__ = "0.1.0"
