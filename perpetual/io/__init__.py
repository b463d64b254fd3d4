"""Everything that touches files: camera path files, presets, images, video."""
