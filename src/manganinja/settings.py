"""One settings type per engine, with its defaults and its ranges, in one place.

The CLI options, the web UI controls and the benchmark all build these (their defaults come from
here), so a value is checked once, before any model is loaded. The types are frozen pydantic
models: ``NinjaSettings(steps=0)`` raises :class:`pydantic.ValidationError` (a ``ValueError``)
naming the field. Imports neither torch nor diffusers.

A run's settings form one tree, :class:`RunSettings` (engine, model load, sampling, flat, input),
which every front end builds with :meth:`RunSettings.from_options` from the one table of run
options, :data:`RUN_OPTIONS`; :mod:`manganinja.colorize` takes it from there.

The model's sampling values (``resolution``, ``steps``, ``guidance_scale_ref``,
``guidance_scale_point``) default to ``None``: the loaded model's recommendation
(:attr:`manganinja.pipeline.MangaNinjaPipeline.recommended`, saved in its ``model_index.json``),
else :data:`OFFICIAL_SAMPLING` (the official release's values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from manganinja.lines import Extractor, Polarity

Guidance = Literal["official", "paper"]
ReferenceMode = Literal["concat", "stitch"]
DType = Literal["fp32", "fp16", "bf16"]
Offload = Literal["none", "reference", "model"]
EngineName = Literal["ninja", "flat"]

#: The official release's sampling values, used where neither the user nor the model says.
OFFICIAL_SAMPLING: dict[str, float | int] = {
    "resolution": 512,
    "steps": 50,
    "guidance_scale_ref": 9.0,
    "guidance_scale_point": 15.0,
}
#: Steps of the fast mode's multistep solver when neither the user nor the model says.
FAST_STEPS = 20
#: The keys a model may recommend (``MangaNinjaPipeline.recommended``).
RECOMMENDED_KEYS = tuple(OFFICIAL_SAMPLING)


def check_resolution(value: int) -> int:
    """``value`` if it is a positive multiple of 64, else ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 64 or value % 64:
        raise ValueError(f"resolution must be a positive multiple of 64 (64, 128, ..., 512, ...), got {value!r}")
    return value


def check_recommended(values: Mapping[str, float | int] | None) -> dict[str, float | int]:
    """A model's recommended sampling values, checked like the settings (unknown keys refused)."""
    out = dict(values or {})
    unknown = sorted(set(out) - set(RECOMMENDED_KEYS))
    if unknown:
        raise ValueError(f"recommended: unknown key(s) {unknown}; known: {', '.join(RECOMMENDED_KEYS)}")
    if "resolution" in out:
        check_resolution(int(out["resolution"]))
    if "steps" in out and int(out["steps"]) < 1:
        raise ValueError(f"recommended steps must be >= 1, got {out['steps']!r}")
    for key in ("guidance_scale_ref", "guidance_scale_point"):
        if key in out and not float(out[key]) >= 0:
            raise ValueError(f"recommended {key} must be >= 0, got {out[key]!r}")
    return out


class Sampling(BaseModel):
    """The model's sampling values, every one decided and checked (see
    :meth:`NinjaSettings.resolve`). The pipeline takes one as it is: it neither resolves nor
    checks these values again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resolution: int
    steps: int = Field(ge=1)
    guidance_scale_ref: float = Field(ge=0, allow_inf_nan=False)
    guidance_scale_point: float = Field(ge=0, allow_inf_nan=False)

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: int) -> int:
        return check_resolution(value)


def resolve_sampling(
    recommended: Mapping[str, float | int] | None,
    *,
    fast: bool = False,
    resolution: int | None = None,
    steps: int | None = None,
    guidance_scale_ref: float | None = None,
    guidance_scale_point: float | None = None,
) -> Sampling:
    """Each value: as given, else the model's recommendation, else the official value (steps
    with ``fast``: :data:`FAST_STEPS` unless given or recommended)."""
    rec = dict(recommended or {})
    official = dict(OFFICIAL_SAMPLING, steps=FAST_STEPS if fast else OFFICIAL_SAMPLING["steps"])

    def pick(name: str, given: float | int | None) -> float | int:
        return given if given is not None else rec.get(name, official[name])

    return Sampling(
        resolution=int(pick("resolution", resolution)),
        steps=int(pick("steps", steps)),
        guidance_scale_ref=float(pick("guidance_scale_ref", guidance_scale_ref)),
        guidance_scale_point=float(pick("guidance_scale_point", guidance_scale_point)),
    )


class NinjaSettings(BaseModel):
    """Sampling settings of the model engine (:class:`manganinja.engines.NinjaEngine`).

    ``None`` for ``resolution``/``steps``/``guidance_scale_*``: the model's recommendation, else
    :data:`OFFICIAL_SAMPLING`. ``snap``: snap the model's colors to the line art's regions at
    full resolution (flat fills, the original lines on top); ``keep_shading`` keeps the lightness
    variation inside regions; ``guide_fill``: with ``snap``, a region that holds a guide's
    line-art point takes the guide's reference color, as the weight-free engine paints it
    (off: the model's color there). ``fast``: DPM-Solver++ (default 20 steps) instead of DDIM.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: Optional[int] = Field(None, ge=1)
    guidance_scale_ref: Optional[float] = Field(None, ge=0, allow_inf_nan=False)
    guidance_scale_point: Optional[float] = Field(None, ge=0, allow_inf_nan=False)
    guidance: Guidance = "official"
    seed: int = Field(0, ge=0)
    resolution: Optional[int] = None
    reference_mode: ReferenceMode = "concat"
    fast: bool = False
    snap: bool = True
    keep_shading: bool = False
    guide_fill: bool = True
    progress: bool = True

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: int | None) -> int | None:
        return None if value is None else check_resolution(value)

    def resolve(self, recommended: Mapping[str, float | int] | None) -> Sampling:
        """The values sampling uses with a model that recommends ``recommended``."""
        return resolve_sampling(
            recommended, fast=self.fast, resolution=self.resolution, steps=self.steps,
            guidance_scale_ref=self.guidance_scale_ref, guidance_scale_point=self.guidance_scale_point,
        )


class FlatSettings(BaseModel):
    """Settings of the weight-free engine (:class:`manganinja.engines.FlatEngine`):
    ``two_tone`` adds one shadow tone per region where the reference has one; ``gap_radius``
    closes gaps in the line art up to about ``2 * gap_radius + 1`` pixels; a region is character
    when at least ``background_share`` of its votes land on the reference's character (a region
    touching the border: at least ``border_cover``), else background
    (:func:`manganinja.flat.engine.colorize_flat`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    two_tone: bool = True
    gap_radius: int = Field(3, ge=0, le=32)
    background_share: float = Field(0.25, ge=0.0, le=1.0)
    border_cover: float = Field(0.5, ge=0.0, le=1.0)


class FlatShotSettings(BaseModel):
    """Settings of the weight-free shot engine (:class:`manganinja.shots.engines.FlatShotEngine`,
    :func:`manganinja.flat.propagate.paint_regions`): every value that decides its results, with
    its one default. The defaults were chosen on synthetic shots of seed 1 (docs/shots.md).

    Votes: ``previous_weight`` / ``keyframe_weight`` are how much the previous frame's result and
    the keyframe(s) count in each region's vote (relative). A previous result counts, per region,
    its weight times its certainty there to the power ``unsure_power`` (0 = plain weights); a
    source whose alignment is poor counts ``poor_weight`` times its weight (a poorly aligned
    previous result is dropped when a keyframe aligns well). Where a well-aligned keyframe gives
    its evidence to another color than the region takes, the region's confidence is scaled by
    ``1 - disagree_penalty * that share`` (0 = off).

    Alignment (:class:`manganinja.flat.propagate.Alignment`): matching runs with the line art's
    long side at most ``work_long_side``; ``smoothing`` is the thin-plate spline's; an alignment is
    poor with fewer than ``min_inliers`` matches, a line agreement under ``min_agreement`` or a
    change of the drawing's size over ``max_size_ratio``.

    Evidence (:func:`manganinja.flat.propagate.match_scores`): ``overlap_share`` of it is the warp's
    overlap (landing on the source's outer background counts ``outer_weight``), the rest segment
    matching: regions alike in area (log-area sigma ``area_sigma``) and elongation (sigma
    ``elongation_sigma``) with warped centroids near (sigma ``position_sigma`` x the long side),
    ``no_match`` being the mass of "none of them".

    Background: a region touching the frame border becomes character only when at least
    ``border_share`` of its evidence is for character colors and the sources' character regions
    cover at least ``border_cover`` of it.

    Color-trace lines (``trace_rule``): of two regions across a colored line that came out in one
    color ``c``, where at least ``trace_share`` of the keyframes' pairs across such lines put one
    color ``p`` opposite ``c`` (a highlight and its shadow), the smaller takes ``p`` when its
    evidence for ``p`` exceeds the larger one's by more than ``trace_margin``
    (:func:`manganinja.flat.propagate.apply_trace_rule`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    previous_weight: float = Field(1.0, gt=0.0, le=100.0)
    keyframe_weight: float = Field(0.25, gt=0.0, le=100.0)
    unsure_power: float = Field(1.0, ge=0.0, le=8.0)
    poor_weight: float = Field(0.25, ge=0.0, le=1.0)
    disagree_penalty: float = Field(1.0, ge=0.0, le=10.0)
    work_long_side: int = Field(768, ge=64, le=8192)
    smoothing: float = Field(0.005, ge=0.0, le=10.0)
    min_inliers: int = Field(12, ge=0, le=10000)
    min_agreement: float = Field(0.5, ge=0.0, le=1.0)
    max_size_ratio: float = Field(1.6, ge=1.0, le=100.0)
    overlap_share: float = Field(0.6, ge=0.0, le=1.0)
    outer_weight: float = Field(0.3, ge=0.0, le=1.0)
    position_sigma: float = Field(0.15, gt=0.0, le=10.0)
    area_sigma: float = Field(0.3, gt=0.0, le=10.0)
    elongation_sigma: float = Field(0.35, gt=0.0, le=10.0)
    no_match: float = Field(0.05, gt=0.0, le=100.0)
    border_share: float = Field(0.6, ge=0.0, le=1.0)
    border_cover: float = Field(0.5, ge=0.0, le=1.0)
    trace_rule: bool = True
    trace_share: float = Field(0.8, ge=0.0, le=1.0)
    trace_margin: float = Field(0.02, ge=0.0, le=1.0)


class LoadSettings(BaseModel):
    """How the model is loaded (:func:`manganinja.engines.load_pipeline`): exactly one of
    ``model`` (a converted folder or a Hugging Face id) and ``official`` (the release layout).
    ``offload``: "reference" moves the reference models off the accelerator once the bank is
    made, "model" is diffusers' model CPU offload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Optional[str] = None
    official: Optional[Path] = None
    device: str = "auto"
    dtype: DType = "fp32"
    offload: Offload = "none"
    attention_chunk: Optional[int] = Field(None, ge=1)
    vae_tiling: bool = False
    compile: bool = False

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value not in ("auto", "cpu", "cuda", "mps") and not (value.startswith("cuda:") and value[5:].isdigit()):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
        return value


class InputSettings(BaseModel):
    """How a line art is read at the edge (:class:`manganinja.lines.Lines`): the drawing's
    ``polarity``, or for a picture the ``extractor`` and its ``extractor_weights``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    polarity: Polarity = "auto"
    extractor: Extractor = "auto"
    extractor_weights: Optional[Path] = None


class RunSettings(BaseModel):
    """Everything a colorization run is set with, as one tree: the ``engine`` ("ninja" or
    "flat"), how the model is loaded (``load``), how it samples (``ninja``), the weight-free
    engine's settings (``flat``) and how line art is read (``inputs``).

    Every front end (the ``colorize``, ``evaluate`` and ``shot colorize`` commands, the web UI)
    builds it once with :meth:`from_options` from the options of :data:`RUN_OPTIONS`, so a value
    given once reaches the engine as it was given, and a value not given takes the one default
    of its settings type.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: EngineName = "ninja"
    ninja: NinjaSettings = NinjaSettings()
    flat: FlatSettings = FlatSettings()
    load: LoadSettings = LoadSettings()
    inputs: InputSettings = InputSettings()

    @classmethod
    def from_options(cls, **options: object) -> "RunSettings":
        """The tree from options named as in :data:`RUN_OPTIONS` (``engine`` too); an option
        that is ``None`` or absent takes its field's default. Raises ``TypeError`` for an
        unknown option name and pydantic's ``ValidationError`` (a ``ValueError``) for a bad
        value, naming the field."""
        unknown = sorted(set(options) - set(RUN_OPTIONS) - {"engine"})
        if unknown:
            raise TypeError(f"unknown run option(s) {unknown}; known: engine, {', '.join(RUN_OPTIONS)}")
        parts: dict[str, dict[str, object]] = {}
        for option, value in options.items():
            if value is None or option == "engine":
                continue
            part, field = RUN_OPTIONS[option]
            parts.setdefault(part, {})[field] = value
        engine = options.get("engine")
        return cls(**({"engine": engine} if engine is not None else {}), **parts)  # type: ignore[arg-type]

    def options(self) -> dict[str, object]:
        """The inverse of :meth:`from_options`: every option's value in this tree."""
        values: dict[str, object] = {"engine": self.engine}
        for option, (part, field) in RUN_OPTIONS.items():
            values[option] = getattr(getattr(self, part), field)
        return values


#: The options of a run, shared by every front end: option name -> (part of
#: :class:`RunSettings`, field). The CLI spells an option ``--`` + the name with ``-`` for ``_``.
RUN_OPTIONS: dict[str, tuple[str, str]] = {
    "model": ("load", "model"),
    "official": ("load", "official"),
    "device": ("load", "device"),
    "dtype": ("load", "dtype"),
    "offload": ("load", "offload"),
    "attention_chunk": ("load", "attention_chunk"),
    "vae_tiling": ("load", "vae_tiling"),
    "steps": ("ninja", "steps"),
    "guidance_ref": ("ninja", "guidance_scale_ref"),
    "guidance_point": ("ninja", "guidance_scale_point"),
    "guidance": ("ninja", "guidance"),
    "seed": ("ninja", "seed"),
    "resolution": ("ninja", "resolution"),
    "reference_mode": ("ninja", "reference_mode"),
    "fast": ("ninja", "fast"),
    "snap": ("ninja", "snap"),
    "keep_shading": ("ninja", "keep_shading"),
    "guide_fill": ("ninja", "guide_fill"),
    "progress": ("ninja", "progress"),
    "two_tone": ("flat", "two_tone"),
    "polarity": ("inputs", "polarity"),
    "extractor": ("inputs", "extractor"),
    "extractor_weights": ("inputs", "extractor_weights"),
}


def option_default(option: str) -> object:
    """The default of a run option (the one place defaults live: the settings types)."""
    part, field = RUN_OPTIONS[option]
    return RunSettings.model_fields[part].annotation.model_fields[field].default  # type: ignore[union-attr]


def describe_error(exc: Exception, names: Mapping[str, str] | None = None) -> str:
    """One line for a settings error: pydantic's ``ValidationError`` as ``field: message (got
    value)`` for each bad field (``names`` renames fields by their path in the settings tree or
    their own name, e.g. ``{"steps": "--steps"}``); any other error as its message."""
    if not isinstance(exc, ValidationError):
        return " ".join(str(exc).split())
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        field = ".".join(loc) or "settings"
        field = (names or {}).get(field, (names or {}).get(loc[-1], field) if loc else field)
        message = str(err["msg"]).removeprefix("Value error, ")
        for long, short in (("Input should be greater than or equal to", "must be >="),
                            ("Input should be less than or equal to", "must be <="),
                            ("Input should be", "must be")):
            message = message.replace(long, short)
        got = "" if "got " in message else f" (got {err['input']!r})"
        parts.append(f"{field}: {message}{got}")
    return "; ".join(parts)
