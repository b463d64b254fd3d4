"""Pipeline settings: small dataclasses gathered in one :class:`Config`, loaded from TOML presets.

``configs/NAME.toml`` files hold the presets; ``--config NAME|FILE`` picks one. Each section
matches a dataclass below and unknown keys are errors (a typo never silently does nothing).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from perpetual.io.presets import preset_files
from perpetual.paths.clearance import MODES


def _check_numbers(settings: Any, section: str) -> None:
    """Every numeric setting is a finite number >= 0 (none of them has a meaning below 0)."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{section}.{f.name} must be a finite number >= 0, got {value}")


def _check_unit(settings: Any, section: str, *names: str) -> None:
    """Each named setting is a share or strength in [0, 1]."""
    for name in names:
        value = getattr(settings, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{section}.{name} must be in [0, 1], got {value}")

LEVELLING = ("off", "turns", "auto", "all")
"""What ``engine.level_paths`` levels: nothing, a path's turns, its turns and its moves where the
fit foresees it flown further so, or its turns and moves."""

__all__ = ["Config", "DriftSettings", "EngineSettings", "GuardSettings", "ModelSettings", "RenderSettings", "apply_overrides",
           "config_presets", "describe", "load_config"]


@dataclass(frozen=True)
class EngineSettings:
    """The render-refine-repeat loop: when a frame becomes a keyframe, and how a keyframe is made.

    Attributes:
        max_invalid: a frame whose warp leaves at most this share of pixels invalid is an
            in-between frame (cheap fill); above it, a new keyframe is made (refine + depth).
        max_age: a keyframe this many frames old is renewed as soon as any pixel is invalid
            (a static camera never renews its keyframe).
        seam_feather: pixels over which re-estimated depth blends into rendered depth.
        open_sky: in a flight from a photo (frame 0's depth estimated) that shows sky, holes whose
            rays point above frame 0's skyline (the median over its columns of the lowest sky) are
            sky: the inpainter is asked for sky there and the depth re-estimate keeps it, so turns
            and orbits do not grow land into the sky (the embedded inpainter has seen only the
            procedural world's skies); and holes whose rays point below frame 0's sky floor (the
            5th percentile of those lowest skies) are land, so a pan's invented horizon does not
            sink strip by strip. A start with a known depth (the world) is left alone.
        mirror_beyond: in a flight from a photo, holes whose rays point beyond frame 0's field of
            view (a pan or an orbit turned past the photo's edge) show frame 0 mirrored back at
            that edge, its colours, sky and distances (:mod:`perpetual.beyond`), instead of the
            inpainter's guess and a depth continued from the nearest surface (a tree at the edge
            grown into a wall); something near across the edge (a person) is repeated beside
            itself. Off for generative inpainters, which invent new content there.
        level_paths: in a flight from a photo whose sky spans its width, what of a generated path
            (a preset; not poses given, which replay as they were flown) is made about the level
            axes of frame 0's skyline (:meth:`perpetual.paths.CameraPath.levelled`) rather than
            its camera's own: ``"turns"``, its turns, every camera staying where the path puts it,
            so that a pan or an orbit from a photo taken looking down or up keeps the horizon
            level, as a tripod head does, where about the camera's own axis it rolls it, and an
            orbit circles what frame 0 looks at on a level circle (each camera turned about its
            :attr:`~perpetual.paths.CameraPath.pivot`); ``"all"``, its moves too, so that such a
            photo flies level rather than along its camera's axis, down toward the land or up
            away from it; ``"auto"`` (the default), its turns, and its moves too where the fit
            (``guard.fit``) foresees the level path flown further before its views are magnified
            or near a surface, but not where it would only reach the detail limit further (an
            orbit keeps its moves: it circles on a level circle already); ``"off"``, nothing. The
            autopilot turns about the same axes and flies level where its plan does. The horizon
            is frame 0's level skyline (:attr:`perpetual.drift.Anchor.tilt`; none, and nothing
            levelled, where its skyline is a ridge, a roof or a person). Levelling the turns took
            a lake shore's pans' worst sky factor from 1.25 and 1.32 to 1.02 and 1.05. Flown level
            throughout (``"all"``), a dusk lake's forward flight covered 10 of its path's frames
            where it covered 64 (nearing the water, which its estimated depth tilts up); with
            ``"auto"``, 13 of the 45 flights from nine level-horizon photos fly level: they went
            2-72% further, 10 of them keeping more of their sharpness (a lake at dusk's autopilot
            0.68 -> 0.84), two 0.014 and 0.031 less. A flight's start from such a photo (depth,
            anchor and fit) takes a median 1.87 times as long, 0.7-1.9 s -> 1.3-3.1 s at 384x256
            (benchmarks/RESULTS.md).
        refresh: at keyframes, the strength (0..1) at which a diffusion inpainter re-noises and
            restores the visible pixels too (holes are always 1): it puts back detail that repeated
            resampling blurs. 0 keeps visible pixels exact; the classical fill ignores it. Above 0
            the SD backends run differential diffusion, which diffusers' pipelines do not have; at 0
            they compute what those pipelines compute.
    """

    max_invalid: float = 0.01
    max_age: int = 6
    seam_feather: int = 3
    open_sky: bool = True
    mirror_beyond: bool = True
    level_paths: str = "auto"
    refresh: float = 0.0

    def __post_init__(self) -> None:
        _check_numbers(self, "engine")
        _check_unit(self, "engine", "max_invalid", "refresh")
        if self.max_age < 1:
            raise ValueError(f"engine.max_age must be >= 1, got {self.max_age}")
        if self.level_paths not in LEVELLING:
            raise ValueError(f"engine.level_paths must be one of {', '.join(map(repr, LEVELLING))}, got {self.level_paths!r}")


@dataclass(frozen=True)
class RenderSettings:
    """How every frame is warped from its keyframe (:class:`perpetual.render.WarpSettings`).

    Attributes:
        sampling: how frames read their keyframe's colour: ``"cubic"`` (clamped Catmull-Rom,
            keeps detail over hundreds of keyframes) or ``"bilinear"`` (blurs a little each time).
        resharpen: give each in-between frame's land back the crispness its keyframe showed, which
            reading at fractional offsets takes away (:func:`perpetual.drift.resharpen`), and each
            keyframe's land that ``drift.anchor_land`` reads from the photo the crispness frame 0
            showed; without it a flight turns soft after each keyframe and sharp again at the next.
        aerial_perspective: estimate frame 0's haze (the horizon's colour and how fast colours
            fade toward it with distance, :mod:`perpetual.atmosphere`) and let every warp change a
            surface's haze with its distance: a far ridge regains its own colours as the camera
            nears it instead of staying a blue-grey wash. Off: colours travel unchanged.
        compile: render through ``torch.compile`` (``WarpSettings.compile``): about 2x faster
            warps after a one-time compile of tens of seconds; on a CPU worth it for long or large
            flights, on a GPU (where a compile takes longer than it saves on short flights) only
            for very long ones; figures in benchmarks/RESULTS.md.
    """

    sampling: str = "cubic"
    resharpen: bool = True
    aerial_perspective: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        if self.sampling not in ("cubic", "bilinear"):
            raise ValueError(f"render.sampling must be 'cubic' or 'bilinear', got {self.sampling!r}")


@dataclass(frozen=True)
class DriftSettings:
    """The drift controls applied to every keyframe, in this order (:mod:`perpetual.drift`).

    Attributes:
        anchor_sky: show frame 0's sky (re-warped by rotation) wherever it saw sky in that
            direction (mirrored in beyond its view, continued behind its land), on keyframes and
            the frames between them, read once from the photo: the sky stops drifting and blurring.
        anchor_land: show frame 0's own pixels, and give them frame 0's distances, warped from
            the photo in one step, wherever a keyframe shows a surface frame 0 saw
            (:class:`perpetual.drift.AnchorLand`): land seen at the start is resampled once, not
            once per keyframe since, so neither it nor its depth edges blur, nor does it fill with
            grain, over a long pan or orbit (up to 2x magnified; nearer, the keyframe's own detail
            grain carries on); where land has spread over the sky frame 0 saw, that sky comes back.
        colour_match: pull the image's Lab mean this far (0..1) toward frame 0's, and its spread
            where it is wider, against colour drift over long flights; with ``anchor_land``,
            only the colour (a, b) of land frame 0 did not see, toward the land it did see in
            the same view (:func:`perpetual.drift.match_colour`).
        detail: how much (0..1) of the fine detail a surface had when first seen, and has since
            lost to magnification or stretching, is put back as band-limited grain
            (:func:`perpetual.drift.restore_detail`); from a photo, on a surface magnified more
            than 2x since then, only for the share its first pixels still resolve (2 / its
            magnification: :class:`perpetual.drift.RestoreDetail`), so a hull flown toward does
            not turn into speckle keyframe by keyframe; 0 turns it off.
    """

    anchor_sky: bool = True
    anchor_land: bool = True
    colour_match: float = 0.1
    detail: float = 1.0

    def __post_init__(self) -> None:
        _check_numbers(self, "drift")
        _check_unit(self, "drift", "colour_match", "detail")


@dataclass(frozen=True)
class GuardSettings:
    """What keeps a camera path from flying into the scene (:mod:`perpetual.paths.clearance`).

    Attributes:
        clearance: on every path but the autopilot's (which keeps its own), the camera never
            comes closer than this to a surface ahead of its move, as far as the last frame shows
            (scene units: frame 0's median depth is 1). An autopilot frame closer than this to
            any surface the frame before showed is reported too close.
        on_clearance: what a path that would come closer does: ``"slow"`` (flown more slowly
            there, keeping the clearance), ``"stop"`` (the camera halts and holds), ``"warn"``
            (flown as given, the frames reported) or ``"off"`` (no check).
        max_magnified: with ``on_clearance = "slow"``, the share of the view that may show land
            magnified more than 4x since the start image showed it (``Frame.magnified_share``):
            the path slows from half of it and halts at it, before the view is a smear of what
            the start image saw small (1: no limit). At a quarter, flights from a photo keep more
            of its sharpness (edge energy) than at a half, and are 10-30% shorter. From a photo
            the autopilot slows from a quarter of it and halts at half, in its last view or ten
            steps on, turning toward open ground (within its bound over the photo) meanwhile
            (:meth:`perpetual.engine.Flythrough.autopilot_pace`).
        fit: with ``on_clearance = "slow"``, before the first frame the path's speed is fitted
            to what the start image holds (:mod:`perpetual.paths.fit`): it is flown at an even
            pace only as far as its views keep under half of ``max_magnified`` magnified and
            1.5 times the clearance from every surface frame 0 shows (less where frame 0's camera
            stands lower over its ground: it flies level over a lawn), so the camera moves to the
            last frame instead of halting part way (``false``: the path's own speed). Only a
            generated path (a preset, a generator file) is fitted: explicit poses, waypoints and
            schedules keep their own timing. From a photo the autopilot's speed is fitted as its
            open-loop plan's (a level forward flight at its speed, over the same frames) would be.
        max_hidden_sky: with ``fit``, the path is also flown only as far as near land hides at
            most this share of the sky its views would show from frame 0's place
            (:func:`perpetual.paths.fit.hidden_sky`): a flight toward a person standing in front
            of the horizon stops before their coat is the whole view (1: no limit). A photo with
            under a tenth of sky (a portrait, a room) is not held to it.
        min_detail: with ``fit``, the path is also flown only as far as its views keep this share
            of frame 0's detail, foreseen by rendering frame 0 there
            (:func:`perpetual.paths.fit.kept_detail`; edge energy, what ``perpetual eval photo``
            scores as sharpness): a rise past the near rocks that made a photo's detail, or a push
            into land whose estimated depth waves, stops before its view is mostly smear (0: no
            limit). On 42 flights from photos the flown frames came out above the forecast on 29
            (by up to 0.28 on average over a flight), within 0.02 of it on 10 and below it on 3
            (at worst 0.12 at one frame); 0.55 kept 41 of them over half of frame 0's sharpness.
            From a photo (with ``engine.mirror_beyond``) the render shows the photo mirrored
            where the view looks beyond it, so a pan or an orbit turning toward blander land stops
            too; otherwise a turn alone keeps all of it.
        max_sky_change: with ``fit``, from a photo (with ``engine.mirror_beyond``), the path is
            also flown only as far as the sky fraction of its views, foreseen in the same render,
            stays within this factor of frame 0's either way (:func:`perpetual.sky.sky_change`,
            what ``perpetual eval photo`` scores against 1.5): a pan from open water toward a
            wooded bank stops before the sky is half gone (0: no limit; else at least 1). A photo
            with under 5% of sky (a forest's gaps in the canopy) is not held to it.
    """

    clearance: float = 0.15
    on_clearance: str = "slow"
    max_magnified: float = 0.25
    fit: bool = True
    max_hidden_sky: float = 0.25
    min_detail: float = 0.55
    max_sky_change: float = 1.35

    @property
    def fitted(self) -> bool:
        """Whether a path's speed is fitted to its start image (``fit`` in ``"slow"`` mode)."""
        return self.fit and self.on_clearance == "slow"

    def __post_init__(self) -> None:
        _check_numbers(self, "guard")
        _check_unit(self, "guard", "max_magnified", "max_hidden_sky", "min_detail")
        if 0.0 < self.max_sky_change < 1.0:
            raise ValueError(f"guard.max_sky_change must be 0 (no limit) or at least 1, got {self.max_sky_change}")
        if self.on_clearance not in MODES:
            raise ValueError(f"guard.on_clearance must be one of {', '.join(MODES)}, got {self.on_clearance!r}")


@dataclass(frozen=True)
class ModelSettings:
    """Which models fill holes and estimate depth.

    Attributes:
        depth: ``"ground-plane"`` (a geometric prior, no model), ``"embedded:depth"`` (shipped),
            or a transformers depth model: a local folder or a hub id in the local cache.
        depth_resolution: for a model with an image processor (``preprocessor_config.json``,
            every hub checkpoint): the square size the processor resizes towards, by its own rule;
            0: the processor's own (518 for Depth Anything V2). Without one (the embedded model):
            the short side the model works at (rounded to its patch size); 0: the size it was
            trained at if its config says (112 for the embedded model), else the frame's own size.
        sky_prior: for a start image without a known depth (a photo), also take for sky what
            :func:`perpetual.sky.sky_prior` finds (the smooth, sky-coloured run of each column
            from the top edge), and grow that sky down through smooth pixels the depth model puts
            almost as far (:func:`perpetual.sky.grow_sky`: a dusk band, fog, low storm clouds),
            then down to the skyline, where the view turns from bright above to dark below
            (:func:`perpetual.sky.skyline_sky`: a sunset's lit and slate clouds): for depth models
            that read a photo's sunset, dusk or haze as land, such as the embedded one.
        far_land: for a start image without a known depth (a photo), the disparity (median depth
            1) that the land just under its sky is taken out to, when the depth model puts it
            nearer: a lake's far shore, a ridge or the sea's edge, which the embedded model reads
            at a few times the median depth, so that a camera flying a fraction of that magnified
            it (:func:`perpetual.align.deepen_far_land`: the land farther than the median is
            spread out, its order kept); 0: as the model reads it.
        ground_plane: for a photo whose skyline is level across half its width (a lake's far
            shore, a plain, the sea), the land farther than the median under that horizon is held
            no nearer than a level ground plane, whose height is this quantile of the heights the
            land's estimated depths imply (:func:`perpetual.align.ground_under_horizon`): the
            band just under the horizon goes far, and what stands on it (a far shore's trees) as
            far as far land goes; the land at the median depth or nearer (the subject, reeds, a
            jetty) and the columns where the land rises well above the horizon keep their depth;
            sky read under that horizon (past 2% of the height; past 5% where it spans a tenth of
            the width, a ridge falling) is water showing the sky (a misty lake's sides) or a gap
            in a far shore, and becomes the plane at the land's median height, the scene's scale
            staying the land's; 0: as the model reads it.
        depth_sharpen: snap the depth model's edges to the frame's colour edges (a joint-bilateral
            filter): for small models whose coarse tokens smear depth edges, such as the embedded one.
        depth_despeckle: with ``depth_sharpen``, the width of a median filter run after it (odd;
            0: none). The colour weights copy a textured surface's pattern (foliage, lettering)
            into its depth as speckle, and under parallax each speck tears from its neighbours;
            5 halves those tears (benchmarks/bench_despeckle.py). Only specks are replaced, pixels
            within 30% of the median: a stalk or pole against the sky or far land is kept.
        inpainter: ``"classical"`` (push-pull fill, no model), ``"embedded:inpainter"`` (the
            shipped pixel-diffusion model, trained for one step), a folder holding
            such a ``UNet2DModel`` (``perpetual train inpainter``), or
            ``"sd:NAME"``: a Stable Diffusion inpainting pipeline (folder or cached hub id).
        controlnet: with ``sd:``, a depth ControlNet (folder or cached hub id) conditioned on
            the completed disparity, min-max normalised per frame, near bright (as the MiDaS maps
            these models were trained on); empty for none.
        adapter: with ``sd:``, a depth T2I-Adapter (folder or cached hub id), likewise.
        control_scale: with ``sd:``, the weight of the ControlNet or adapter.
        lora: with ``sd:``, LoRA weights fused into the UNet (folder or cached hub id), e.g. an
            LCM-LoRA for few-step sampling with ``scheduler = "lcm"``.
        scheduler: with ``sd:``, the sampler: ddim, ddpm, dpm++, euler, euler-a or lcm.
        steps: diffusion sampling steps per keyframe; 0: the inpainter's own default (1 for
            pixel-diffusion models such as the embedded one, trained for one step; 25 for ``sd:``).
        guidance: with ``sd:``, classifier-free guidance scale.
        negative_prompt: with ``sd:``, what to steer away from.
    """

    depth: str = "embedded:depth"
    depth_resolution: int = 0
    depth_sharpen: bool = True
    depth_despeckle: int = 0
    sky_prior: bool = True
    far_land: float = 0.1
    ground_plane: float = 0.25
    inpainter: str = "embedded:inpainter"
    controlnet: str = ""
    adapter: str = ""
    control_scale: float = 1.0
    lora: str = ""
    scheduler: str = "ddim"
    steps: int = 0
    guidance: float = 7.5
    negative_prompt: str = ""

    def __post_init__(self) -> None:
        _check_numbers(self, "models")
        if self.depth_resolution > 8192:
            raise ValueError(f"models.depth_resolution must be at most 8192 (0: the model's own), got {self.depth_resolution}")
        if self.depth_despeckle > 31 or (self.depth_despeckle and self.depth_despeckle % 2 == 0):
            raise ValueError(f"models.depth_despeckle must be odd and at most 31 (0: none), got {self.depth_despeckle}")
        if self.far_land >= 1.0:
            raise ValueError(f"models.far_land must be under 1, the median land's disparity (0: off), got {self.far_land}")
        if not 0.0 <= self.ground_plane < 1.0:
            raise ValueError(f"models.ground_plane must be a quantile from 0 to under 1 (0: off), got {self.ground_plane}")
        if self.controlnet and self.adapter:
            raise ValueError("models.controlnet and models.adapter are alternatives: set one of them")


@dataclass(frozen=True)
class Config:
    """A pipeline's settings. ``Config()`` is the ``default`` preset (the embedded models, offline),
    what ``perpetual fly`` and ``Flythrough()`` fly; every preset (``configs/NAME.toml``) states
    only where it differs from it."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    guard: GuardSettings = field(default_factory=GuardSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SECTIONS = {"engine": EngineSettings, "render": RenderSettings, "drift": DriftSettings, "guard": GuardSettings,
             "models": ModelSettings}
# Settings that once sat in [engine]: an old file or --set names them with a pointer to their section.
_MOVED = {f.name: section for section in ("render", "drift", "guard") for f in fields(SECTIONS[section])}


def config_presets() -> dict[str, Path]:
    """Config preset name -> TOML file."""
    return preset_files("configs", ".toml")


def from_dict(data: dict[str, Any], source: str) -> Config:
    """A Config from parsed TOML; unknown sections or keys raise ValueError naming them."""
    parts: dict[str, Any] = {}
    for key, value in data.items():
        if key == "description":
            parts["description"] = str(value)
            continue
        if key not in SECTIONS:
            raise ValueError(f"{source}: unknown section [{key}]; known: {', '.join(SECTIONS)}")
        cls = SECTIONS[key]
        moved = sorted(set(value) & set(_MOVED)) if key == "engine" and isinstance(value, dict) else []
        if moved:
            raise ValueError(f"{source}: " + "; ".join(f"engine.{m} is {_MOVED[m]}.{m} now (in [{_MOVED[m]}])" for m in moved))
        known = {f.name for f in fields(cls)}
        if not isinstance(value, dict) or set(value) - known:
            bad = sorted(set(value) - known) if isinstance(value, dict) else value
            raise ValueError(f"{source}: unknown key(s) {bad} in [{key}]; known: {', '.join(sorted(known))}")
        parts[key] = cls(**{name: _typed(cls, key, name, v, source) for name, v in value.items()})
    return Config(**parts)


def _typed(cls: type, section: str, name: str, value: Any, source: str) -> Any:
    """``value`` checked against the type of the setting's default (an int is a valid float)."""
    expected = type(next(f.default for f in fields(cls) if f.name == name))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
        kind = {bool: "true or false", int: "a whole number", float: "a number", str: "a quoted string"}.get(expected, expected.__name__)
        raise ValueError(f"{source}: {section}.{name} must be {kind}, got {value!r}")
    return value


def load_config(name_or_file: str | None = None) -> Config:
    """``--config NAME|FILE``: a TOML file if one exists at that path, else a preset (default: ``default``)."""
    name_or_file = name_or_file or "default"
    file = Path(name_or_file)
    if not file.is_file():
        presets = config_presets()
        if name_or_file not in presets:
            raise ValueError(f"unknown config {name_or_file!r}: not a file and not a preset (presets: {', '.join(presets) or 'none'})")
        file = presets[name_or_file]
    try:
        data = tomllib.loads(file.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read config {file}: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config {file} is not valid TOML: {err}") from None
    return from_dict(data, str(file))


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its text in the class docstring's ``Attributes:`` section (the CLI help)."""
    docs: dict[str, str] = {}
    lines = (cls.__doc__ or "").split("Attributes:")[-1].splitlines()
    name = None
    for line in lines:
        stripped = line.strip()
        head, sep, rest = stripped.partition(":")
        if sep and head.isidentifier() and line.startswith(" " * 8) and not line.startswith(" " * 12):
            name, docs[head] = head, rest.strip()
        elif name and stripped:
            docs[name] += " " + stripped
    return docs


def describe(config: Config) -> list[str]:
    """``section.key = value  # doc`` lines for every setting of ``config``."""
    out = []
    for section, cls in SECTIONS.items():
        docs = field_docs(cls)
        for f in fields(cls):
            value = getattr(getattr(config, section), f.name)
            out.append(f"{section}.{f.name} = {value!r}\n    {docs.get(f.name, '')}")
    return out


def reference() -> str:
    """The configuration reference (docs/configuration.md): every setting once, with its
    default, the value each preset gives it where that differs, and its meaning."""
    presets = {name: load_config(name) for name in config_presets()}
    lines = ["# Configuration reference", "",
             "Generated from the settings' docstrings by `perpetual config --reference`; a test keeps this page",
             "equal to its output. The defaults are the `default` preset (`Config()`); another preset (`configs/NAME.toml`) changes some;",
             "`--set SECTION.KEY=VALUE` changes one for a run.", ""]
    for section, cls in SECTIONS.items():
        docs = field_docs(cls)
        lines += [f"## [{section}]", "", "| setting | default | presets that change it | meaning |", "| --- | --- | --- | --- |"]
        for f in fields(cls):
            default = getattr(getattr(Config(), section), f.name)
            changed = ", ".join(f"`{n}`: `{getattr(getattr(c, section), f.name)!r}`" for n, c in presets.items()
                                if getattr(getattr(c, section), f.name) != default)
            meaning = docs.get(f.name, "").replace("|", "\\|")
            lines.append(f"| `{section}.{f.name}` | `{default!r}` | {changed} | {meaning} |")
        lines.append("")
    lines += ["## Presets", "", "| preset | description |", "| --- | --- |"]
    lines += [f"| `{n}` | {c.description} |" for n, c in presets.items()]
    return "\n".join(lines) + "\n"


def apply_overrides(config: Config, settings: list[str]) -> Config:
    """Apply ``--set section.key=value`` strings (values parsed as TOML values, else text)."""
    data = config.to_dict()
    for item in settings:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise ValueError(f"--set takes SECTION.KEY=VALUE, e.g. engine.max_invalid=0.02; got {item!r}")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        if section not in SECTIONS:
            raise ValueError(f"--set {item}: unknown section {section!r}; known: {', '.join(SECTIONS)}")
        data[section][name] = value
    return from_dict(data, "--set")
