"""Training configuration: one typed tree of pydantic models read from YAML, strictly.

Every key of the YAML file must be a field of the matching section; an unknown key is an error
that names it (with the closest known key), so a typo never silently falls back to a default.
:func:`resolve_config` fills the defaults and :func:`config_to_dict` gives the resolved tree that
the trainer saves beside every checkpoint.

Sections: ``model`` (:class:`ModelConfig`), ``data`` (:class:`manganinja.data.dataset.DataConfig`,
with the augmentation and matcher sections of :mod:`manganinja.data`), ``train``
(:class:`TrainSection`); the trainer and the data set use these objects as they are. See ``configs/`` for the paper's recipe and a tiny CPU recipe.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from manganinja.data.dataset import DataConfig
from manganinja.points import MAX_POINT_PAIRS


class ConfigError(ValueError):
    """Bad training configuration: unknown key, wrong type or bad value (names it)."""


InitKind = Literal["tiny", "sd15", "official", "pretrained"]
#: Which attention the matching loss scores (``train.match_loss_branch``).
MatchBranch = Literal["ref", "point", "point_matches"]
#: An integer that is not silently made from a bool, a float or a string.
Int = Annotated[int, Strict()]


class Section(BaseModel):
    """A config section: unknown keys are refused, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ScheduleSection(Section):
    """The noise schedule of the trained model, written into its scheduler config (so sampling
    uses it too); a field left out keeps the model's own (SD1.5: ``epsilon``, no zero terminal
    SNR, ``leading``). ``zero_terminal_snr`` is diffusers' ``rescale_betas_zero_snr`` (Lin et al.
    2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed"): the last timestep
    holds no trace of the image, so the colors cannot be read from the noise and must come from
    the conditions; it needs ``v_prediction`` and goes with ``trailing`` timesteps."""

    prediction_type: Literal["epsilon", "v_prediction"] | None = None
    zero_terminal_snr: bool | None = None
    timestep_spacing: Literal["leading", "trailing", "linspace"] | None = None

    def scheduler_updates(self) -> dict[str, object]:
        """The scheduler config keys this section sets."""
        values = {"prediction_type": self.prediction_type, "rescale_betas_zero_snr": self.zero_terminal_snr,
                  "timestep_spacing": self.timestep_spacing}
        return {k: v for k, v in values.items() if v is not None}


class ModelConfig(Section):
    """Where the weights come from.

    - ``tiny``: small random components (tests, CPU smoke runs; ``seed``); ``vae``: a trained
      ``AutoencoderKL`` folder (``manganinja train-autoencoder``) used instead of the random VAE;
      ``unet_channels``: the U-Nets' block widths (default ``[32, 64]``); ``tiny_start``:
      ``random`` (independent random U-Nets, an acting ControlNet: tests) or ``paper`` (both
      U-Nets from one initialisation and a zero-output ControlNet, the shape of the paper's
      start from SD1.5; see :func:`manganinja.models.factory.build_components`).
    - ``sd15``: a Stable Diffusion 1.5 diffusers folder at ``path`` (both U-Nets from its U-Net);
      ``controlnet_path``: a diffusers line-art ControlNet (else one initialised from the U-Net);
      ``clip_path``: CLIP ViT-L/14 folder (vision tower; its text tower gives the unconditional
      token, else SD's ``text_encoder``). PointNet starts random.
    - ``official``: the official MangaNinja checkpoints folder at ``path``.
    - ``pretrained``: a converted/trained model saved with ``save_pretrained`` at ``path``.

    ``unet_start``: a stage-0 run's pipeline folder (``train.stage: 0``, e.g.
    ``runs/tiny_synthetic_stage0/final``): its ``denoising_unet`` weights are loaded (strictly)
    into both U-Nets of a ``tiny`` start before the ControlNet is copied from the denoising U-Net,
    as the paper starts both U-Nets (and the ControlNet's encoder) from SD1.5.

    ``schedule``: the noise schedule to train (and save) the model with (:class:`ScheduleSection`).

    ``point_code``: PointNet's input coding. ``None`` keeps the model's (the paper's value-coded
    point map for a new model); ``N > 0`` gives each pair index a fixed orthonormal code of ``N``
    channels (``PointNet.pair_code_channels``, a departure from the paper: docs/reproduce.md);
    ``0`` the paper's coding. When it differs from the loaded model's, PointNet starts anew
    (random, from ``seed``) with the same widths: train it with stage 2.

    ``point_regions``: region point maps (:mod:`manganinja.point_regions`, a departure from the
    paper: each pair's value fills the region holding its point); ``None`` keeps the model's
    (pixel maps for a new model). Saved in PointNet's config (``region_maps``), so the pipeline
    draws the maps the model was trained on.

    ``point_hints``: ``true`` widens the ControlNet's condition by the guides' color hints
    (:func:`manganinja.point_regions.hint_channels`: each guide's reference color over its
    line-art region; a departure from the paper): the new input channels start at zero weight,
    so the model starts out as it was. ``None`` keeps the model's condition.
    """

    init: InitKind = "tiny"
    path: str | None = None
    vae: str | None = None
    unet_channels: list[Int] | None = None
    tiny_start: Literal["random", "paper"] = "random"
    unet_start: str | None = None
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    controlnet_path: str | None = None
    clip_path: str | None = None
    seed: Int = 0
    point_code: Int | None = None
    point_regions: bool | None = None
    point_hints: bool | None = None


class TrainSection(Section):
    """Optimisation. ``stage`` 0 pretrains the denoising U-Net alone as a plain unconditional
    diffusion model on the target frames (no reference, ControlNet or points: the domain's own
    "SD1.5", a start for stage 1 through ``model.unet_start``); ``stage`` 1 trains the reference U-Net, denoising U-Net, ControlNet and
    PointNet; stage 2 only PointNet. The learning rate is multiplied by ``lr_decay_factor`` every
    ``lr_decay_every`` steps (the paper: 1e-3, decayed every 30k steps; it does not give the
    factor). ``batch_size`` is per device and per accumulation micro-step. ``threads``: torch
    CPU threads (default: torch's choice).

    ``match_loss`` (stage 1; not in the paper): the weight of an attention-matching loss added to
    the prediction loss, the negative log of the attention each of ``data.match_points``
    correspondences' target token puts on its reference token in every block that reads the
    bank (:class:`manganinja.training.trainer.CorrespondenceObserver`); 0 = off. It stands in for
    the matching prior of the paper's SD1.5 start. ``match_loss_until``: the step at which it
    stops (None: never). ``match_loss_branch``: ``ref`` scores the content-only attention (the
    REF branch) at ``data.match_points`` correspondences; ``point`` scores the POINT branch's
    attention (point embeddings added to queries and keys) at the sample's guide points (stages 1
    and 2: it teaches PointNet to steer the attention); ``point_matches`` scores the POINT branch's
    attention at the ``data.match_points`` correspondences, guides or not (stages 1 and 2: the
    attention with the guides' embeddings must still match the points no guide holds; a row
    whose points are dropped has no embeddings, so there it is ``ref``'s).

    ``point_loss`` (stages 1 and 2; not in the paper): the weight of a second prediction loss
    taken only at the latent pixels that hold a guide target point of a row that keeps its
    points (:func:`manganinja.training.losses.guide_point_loss`); 0 = off. The guides cover a few
    of the frame's latent pixels, so the plain loss hardly rewards a model for following them.
    ``point_loss_area``: where that loss is taken: ``points``, the latent pixels of the guide
    points; ``hints`` (a hint model only, ``model.point_hints``), every latent pixel the guides'
    color hints cover (each guide's line-art region).

    ``cache_target_latents``: encode every pair's target once before the first step and draw each
    step's latents from the stored posteriors (:mod:`manganinja.training.target_latents`; the
    target is never augmented, so the draws are those of a fresh encoding). It saves one VAE
    encoding a step at the cost of the targets' latents in memory (4 x 16 x 16 x 2 floats a pair
    at 64 px) and one pass over the data before the first step; stage 0 then reads no samples."""

    output_dir: str = "runs/train"
    stage: Literal[0, 1, 2] = 1
    steps: Int = 1000
    batch_size: Int = 1
    gradient_accumulation_steps: Int = 1
    learning_rate: float = 1e-3
    lr_decay_every: Int = 30000
    lr_decay_factor: float = 0.5
    lr_warmup_steps: Int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 0.0
    adam_epsilon: float = 1e-8
    max_grad_norm: float | None = 1.0
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_checkpointing: bool = False
    seed: Int = 0
    threads: Int | None = None
    checkpoint_every: Int = 1000
    keep_checkpoints: Int = 3
    log_every: Int = 10
    resume: str | None = None
    save_final: bool = True
    match_loss: float = 0.0
    match_loss_until: Int | None = None
    match_loss_branch: MatchBranch = "ref"
    point_loss: float = 0.0
    point_loss_area: Literal["points", "hints"] = "points"
    cache_target_latents: bool = False


class TrainConfig(Section):
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainSection = Field(default_factory=TrainSection)


# --------------------------------------------------------------------------------------------
# Strict parsing
# --------------------------------------------------------------------------------------------


def _section_at(loc: tuple) -> type[BaseModel] | None:
    """The section model that holds the key at ``loc`` (for the 'did you mean' hint)."""
    model: Any = TrainConfig
    for part in loc[:-1]:
        field_info = model.model_fields.get(part) if isinstance(part, str) else None
        if field_info is None:
            return None
        model = field_info.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _one_line(exc: ValidationError) -> str:
    """The first error of a pydantic validation as one line naming the key."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "config"
    value, kind = err.get("input"), err["type"]
    if kind == "extra_forbidden":
        section = _section_at(loc)
        names = list(section.model_fields) if section is not None else []
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else (f" (known keys: {', '.join(names)})" if names else "")
        return f"unknown config key '{where}'{hint}"
    if kind == "literal_error":
        return f"{where} must be one of {err['ctx']['expected']}, got {value!r}"
    if kind.startswith("int"):
        return f"{where} must be an integer, got {value!r}"
    if kind.startswith("float"):
        return f"{where} must be a number, got {value!r}"
    if kind.startswith("bool"):
        return f"{where} must be true or false, got {value!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where} must be a mapping, got {value!r}"
    if kind == "value_error":
        return f"{where} {err['msg'].removeprefix('Value error, ')}"
    if kind == "list_type":
        return f"{where} must be a list, got {value!r}"
    return f"{where}: {err['msg']}, got {value!r}"


def resolve_config(data: dict | TrainConfig | None) -> TrainConfig:
    """A validated :class:`TrainConfig` from a (possibly partial) nested dict."""
    if isinstance(data, TrainConfig):
        cfg = data
    else:
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"config must be a mapping, got {data!r}")
        try:
            cfg = TrainConfig.model_validate(data or {})
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None
    _validate(cfg)
    return cfg


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> TrainConfig:
    """Read a YAML config file (and merge ``overrides``, a nested dict) strictly."""
    path = Path(path)
    data = read_config_file(path, overrides)
    try:
        return resolve_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def read_config_file(path: Path, overrides: dict | None = None, error: type[ValueError] = ConfigError) -> dict:
    """The YAML of the config file at ``path`` (``{}`` when empty) with ``overrides`` (a nested
    dict) merged in; ``error`` (one line) for a missing file or one that is not valid YAML, saying
    where (``config file a.yaml is not valid YAML at line 2, column 5: expected ',' or '}', but got
    ':'``). The training and the autoencoder configs are both read by it.

    A top-level ``extends: other.yaml`` (a path relative to this file's folder) makes the file a
    variant: the other file is read first (it may extend another in turn) and this file's keys
    are merged over it (:func:`merge_dicts`: a section's keys one by one), so a variant states
    only what it changes. A chain that comes back to a file, or a base that is missing, is
    ``error`` naming the files."""
    data = _read_extended(path, error, ())
    return merge_dicts(data, overrides) if overrides else data


def _read_extended(path: Path, error: type[ValueError], chain: tuple[Path, ...]) -> dict:
    """The sections of the config file at ``path`` over those of the file its ``extends:``
    names, read the same way; ``chain``: the files that extend it, nearest last."""
    if not path.is_file():
        named = f" (named by extends: in {chain[-1]})" if chain else ""
        raise error(f"config file {path} not found{named}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise error(f"config file {path} is not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise error(f"config file {path} holds a YAML {type(data).__name__}, not sections (model:, data:, train:)")
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base.strip():
        raise error(f"config file {path}: extends: must name another config file (a path relative to {path.parent}), got {base!r}")
    chain = (*chain, path)
    target = path.parent / base
    if target.resolve() in {p.resolve() for p in chain}:
        raise error(f"config file {path}: extends: comes back to {target} ({' -> '.join(map(str, (*chain, target)))}); "
                    "name a file outside this chain")
    return merge_dicts(_read_extended(target, error, chain), data)


def merge_dicts(base: dict, extra: dict) -> dict:
    """Recursive merge (``extra`` wins)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = value
    return out


def config_to_dict(cfg: TrainConfig) -> dict:
    """The resolved config as plain YAML-able data."""
    return cfg.model_dump()


def dump_config(cfg: TrainConfig) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def _validate(cfg: TrainConfig) -> None:
    m, d, t = cfg.model, cfg.data, cfg.train
    if m.init != "tiny" and not m.path:
        raise ConfigError(f"model.path is required for model.init '{m.init}'")
    if d.resolution < 64 or d.resolution % 64:
        raise ConfigError(f"data.resolution must be a multiple of 64 and >= 64, got {d.resolution}")
    if not 0 <= d.max_points <= 255:
        raise ConfigError(f"data.max_points must be in 0..255, got {d.max_points}")
    if m.point_code:
        if m.point_code < MAX_POINT_PAIRS:
            raise ConfigError(f"model.point_code must be 0 (the paper's coding) or at least {MAX_POINT_PAIRS} (one orthonormal code per pair), got {m.point_code}")
        if d.max_points > MAX_POINT_PAIRS:
            raise ConfigError(f"data.max_points must be at most {MAX_POINT_PAIRS} with model.point_code (one code per pair), got {d.max_points}")
    if m.unet_start is not None and m.init != "tiny":
        raise ConfigError(f"model.unet_start applies to model.init 'tiny' only (it replaces the random U-Nets), got model.init '{m.init}'")
    if m.schedule.zero_terminal_snr and m.schedule.prediction_type != "v_prediction":
        raise ConfigError(
            "model.schedule.zero_terminal_snr needs model.schedule.prediction_type: v_prediction "
            f"(the last timestep holds no image, and a predicted noise gives no picture there), got {m.schedule.prediction_type!r}"
        )
    positive = {
        "train.steps": t.steps,
        "train.batch_size": t.batch_size,
        "train.gradient_accumulation_steps": t.gradient_accumulation_steps,
        "train.lr_decay_every": t.lr_decay_every,
        "train.checkpoint_every": t.checkpoint_every,
        "train.log_every": t.log_every,
    }
    for name, value in positive.items():
        if value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    if t.match_loss < 0:
        raise ConfigError(f"train.match_loss must be >= 0, got {t.match_loss}")
    if t.point_loss < 0:
        raise ConfigError(f"train.point_loss must be >= 0, got {t.point_loss}")
    if t.point_loss > 0 and (t.stage == 0 or cfg.data.max_points == 0):
        raise ConfigError(f"train.point_loss needs guide points: stage 1 or 2 and data.max_points > 0 (got stage {t.stage}, "
                          f"max_points {cfg.data.max_points})")
    if t.match_loss > 0 and t.match_loss_branch == "ref":
        if t.stage != 1:
            raise ConfigError(f"train.match_loss on the ref branch applies to stage 1 (the stage that trains the attention), got stage {t.stage}")
        if d.match_points < 1:
            raise ConfigError("train.match_loss needs correspondences: set data.match_points (e.g. 32)")
    if t.match_loss > 0 and t.match_loss_branch != "ref":
        if t.stage == 0:
            raise ConfigError("train.match_loss on the point branch needs stage 1 or 2 (stage 0 has no points)")
        if t.match_loss_branch == "point" and d.max_points < 1:
            raise ConfigError("train.match_loss_branch 'point' needs guide points: set data.max_points")
        if t.match_loss_branch == "point_matches" and (d.match_points < 1 or d.max_points < 1):
            raise ConfigError("train.match_loss_branch 'point_matches' needs correspondences and guide points: "
                              f"set data.match_points and data.max_points (got {d.match_points}, {d.max_points})")
    if d.match_points < 0:
        raise ConfigError(f"data.match_points must be >= 0, got {d.match_points}")
    if t.threads is not None and t.threads < 1:
        raise ConfigError(f"train.threads must be >= 1, got {t.threads}")
    if t.learning_rate <= 0:
        raise ConfigError(f"train.learning_rate must be > 0, got {t.learning_rate}")
    if not 0 < t.lr_decay_factor <= 1:
        raise ConfigError(f"train.lr_decay_factor must be in (0, 1], got {t.lr_decay_factor}")
