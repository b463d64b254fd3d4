import dataclasses

import pytest

from perpetual.config import Config, apply_overrides, config_presets, describe, load_config


def test_presets_load_and_describe_every_field():
    gpu = {"sd15-inpaint", "sd15-controlnet-depth", "sd15-adapter-depth", "sd15-lcm-fast", "sdxl-controlnet-depth"}
    assert {"default", "classical"} | gpu <= set(config_presets())
    for name in config_presets():
        assert load_config(name).description
    config = load_config("default")
    lines = describe(config)
    assert any(line.startswith("engine.max_invalid = ") for line in lines)
    assert all(len(line.split("\n")[1].strip()) > 10 for line in lines)  # every field has its doc


def test_config_is_the_default_preset_and_presets_state_only_their_differences():
    assert dataclasses.replace(load_config("default"), description="") == Config()
    for name in config_presets():
        config = load_config(name)
        for section in ("engine", "render", "drift", "guard", "models"):
            ours, base = getattr(config, section), getattr(Config(), section)
            for f in dataclasses.fields(ours):
                changed = getattr(ours, f.name) != getattr(base, f.name)
                assert changed or f"{f.name} =" not in config_presets()[name].read_text(), (name, f.name)


def test_overrides_and_their_errors():
    config = apply_overrides(Config(), ["engine.max_invalid=0.05", "engine.max_age = 3"])
    assert config.engine.max_invalid == 0.05 and config.engine.max_age == 3
    config = apply_overrides(Config(), ["drift.detail=1", "render.compile=true"])
    assert config.drift.detail == 1.0 and isinstance(config.drift.detail, float) and config.render.compile is True
    for bad, message in [("engine.nope=1", "unknown key"), ("engine.max_age=0", "max_age"), ("max_age=3", "SECTION.KEY"), ("turbo.x=1", "unknown section"),
                         ("render.compile=maybe", "true or false"), ("models.steps=2.5", "whole number"),
                         ("drift.detail=much", "a number"), ("models.depth=3", "quoted string")]:
        with pytest.raises(ValueError, match=message):
            apply_overrides(Config(), [bad])


def test_config_files(tmp_path):
    (tmp_path / "mine.toml").write_text('description = "mine"\n[engine]\nmax_age = 2\n')
    assert load_config(str(tmp_path / "mine.toml")).engine.max_age == 2
    (tmp_path / "bad.toml").write_text("[engine\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(str(tmp_path / "bad.toml"))
    (tmp_path / "typo.toml").write_text("[engine]\nmax_invalld = 0.1\n")
    with pytest.raises(ValueError, match="max_invalld"):
        load_config(str(tmp_path / "typo.toml"))
    (tmp_path / "older.toml").write_text("[engine]\nmax_age = 2\ndetail = 1.0\nclearance = 0.2\n")
    with pytest.raises(ValueError, match=r"engine.clearance is guard.clearance now .*; engine.detail is drift.detail now"):
        load_config(str(tmp_path / "older.toml"))
    with pytest.raises(ValueError, match=r"engine.sampling is render.sampling now"):
        apply_overrides(Config(), ["engine.sampling=bilinear"])


@pytest.mark.parametrize("setting", ["drift.colour_match=nan", "engine.seam_feather=-2", "models.depth_resolution=-5",
                                     "models.guidance=inf", "models.control_scale=-1", "models.depth_resolution=100000",
                                     "models.depth_despeckle=4", "models.depth_despeckle=33"])
def test_numbers_that_cannot_work_are_refused_at_once(setting):
    with pytest.raises(ValueError, match=setting.split("=")[0]):
        apply_overrides(Config(), [setting])


def test_the_configuration_reference_page_is_what_the_settings_say():
    """docs/configuration.md is generated (`perpetual config --reference`): every setting once,
    its default and meaning from the dataclasses' docstrings, the presets that change it."""
    from pathlib import Path

    from perpetual.config import SECTIONS, reference

    page = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    assert page == reference(), "docs/configuration.md is stale: run 'perpetual config --reference > docs/configuration.md'"
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert page.count(f"| `{section}.{f.name}` |") == 1
