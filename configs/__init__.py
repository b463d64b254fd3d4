"""Pipeline presets (TOML), found with importlib.resources."""
