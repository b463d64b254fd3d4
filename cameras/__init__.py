"""Camera path presets (JSON), found with importlib.resources."""
