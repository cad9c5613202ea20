"""Training configuration: a typed tree of dataclasses read from YAML, strictly.

Every key of the YAML file must be a field of the matching section; an unknown key is an error
that names it (with the closest known key), so a typo never silently falls back to a default.
:func:`resolve_config` fills the defaults and :func:`config_to_dict` gives the resolved tree that
the trainer saves beside every checkpoint.

Sections: ``model`` (:class:`ModelConfig`), ``data`` (:class:`DataSection`), ``train``
(:class:`TrainSection`). See ``configs/`` for the paper's recipe and a tiny CPU recipe.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml


class ConfigError(ValueError):
    """Bad training configuration: unknown key, wrong type or bad value (names it)."""


InitKind = Literal["tiny", "sd15", "official", "pretrained"]


@dataclass
class ModelConfig:
    """Where the weights come from.

    - ``tiny``: small random components (tests, CPU smoke runs; ``seed``).
    - ``sd15``: a Stable Diffusion 1.5 diffusers folder at ``path`` (both U-Nets from its U-Net);
      ``controlnet_path``: a diffusers line-art ControlNet (else one initialised from the U-Net);
      ``clip_path``: CLIP ViT-L/14 folder (vision tower; its text tower gives the unconditional
      token, else SD's ``text_encoder``). PointNet starts random.
    - ``official``: the official MangaNinja checkpoints folder at ``path``.
    - ``pretrained``: a converted/trained model saved with ``save_pretrained`` at ``path``.
    """

    init: InitKind = "tiny"
    path: str | None = None
    controlnet_path: str | None = None
    clip_path: str | None = None
    seed: int = 0


@dataclass
class ShuffleSection:
    """Progressive patch shuffle: the grid doubles from ``start_grid`` to ``end_grid`` at equal
    intervals over ``total_steps`` (default: the run's steps), unless ``milestones`` (a list of
    ``[step, grid]``) is given. ``probability``: chance a sample is shuffled at all."""

    start_grid: int = 2
    end_grid: int = 32
    total_steps: int | None = None
    milestones: list[list[int]] | None = None
    probability: float = 1.0
    enabled: bool = True


@dataclass
class DropSection:
    """Probabilities of dropping each condition of a sample."""

    reference: float = 0.1
    points: float = 0.1
    lineart: float = 0.1


@dataclass
class MatcherSection:
    method: Literal["auto", "sift", "lightglue"] = "auto"
    ratio: float = 0.75
    ransac_threshold: float = 3.0
    lightglue_weights: str | None = None


@dataclass
class DataSection:
    """Data sources and sample settings. ``synthetic``: folders written by ``manganinja synth``;
    ``videos``: folders (or files) of anime clips / frame folders."""

    synthetic: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    resolution: int = 512
    max_points: int = 24
    interval: int = 36
    ssim_threshold: float = 0.95
    max_slack: int = 12
    cache_dir: str | None = None
    lineart_method: Literal["auto", "xdog", "informative"] = "auto"
    lineart_weights: str | None = None
    flip_probability: float = 0.5
    rotate_probability: float = 0.5
    max_angle: float = 30.0
    patch_shuffle: ShuffleSection = field(default_factory=ShuffleSection)
    drop: DropSection = field(default_factory=DropSection)
    matcher: MatcherSection = field(default_factory=MatcherSection)
    num_workers: int = 0


@dataclass
class TrainSection:
    """Optimisation. ``stage`` 1 trains the reference U-Net, denoising U-Net, ControlNet and
    PointNet; stage 2 only PointNet. The learning rate is multiplied by ``lr_decay_factor`` every
    ``lr_decay_every`` steps (the paper: 1e-3, decayed every 30k steps; it does not give the
    factor). ``batch_size`` is per device and per accumulation micro-step."""

    output_dir: str = "runs/train"
    stage: Literal[1, 2] = 1
    steps: int = 1000
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    lr_decay_every: int = 30000
    lr_decay_factor: float = 0.5
    lr_warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 0.0
    adam_epsilon: float = 1e-8
    max_grad_norm: float | None = 1.0
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_checkpointing: bool = False
    seed: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10
    resume: str | None = None
    save_final: bool = True


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)


# --------------------------------------------------------------------------------------------
# Strict parsing
# --------------------------------------------------------------------------------------------


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise ConfigError(f"{where} must be one of {list(choices)}, got {value!r}")
        return value
    if origin in (list,):
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        (item,) = get_args(hint) or (Any,)
        return [_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    args = get_args(hint)
    if args and type(None) in args:  # Optional
        if value is None:
            return None
        rest = [a for a in args if a is not type(None)]
        return _check_type(value, rest[0], where)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML reads 1e-3 as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return str(value)
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(names)})"
            raise ConfigError(f"unknown config key '{path}'{hint}")
        kwargs[key] = _check_type(value, hints[key], path)
    return cls(**kwargs)


def resolve_config(data: dict | TrainConfig | None) -> TrainConfig:
    """A validated :class:`TrainConfig` from a (possibly partial) nested dict."""
    cfg = data if isinstance(data, TrainConfig) else _build(TrainConfig, data or {}, "")
    _validate(cfg)
    return cfg


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> TrainConfig:
    """Read a YAML config file (and merge ``overrides``, a nested dict) strictly."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if overrides:
        data = merge_dicts(data, overrides)
    try:
        return resolve_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


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
    return dataclasses.asdict(cfg)


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
    for name in ("reference", "points", "lineart"):
        p = getattr(d.drop, name)
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"data.drop.{name} must be in [0, 1], got {p}")
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
    if t.learning_rate <= 0:
        raise ConfigError(f"train.learning_rate must be > 0, got {t.learning_rate}")
    if not 0 < t.lr_decay_factor <= 1:
        raise ConfigError(f"train.lr_decay_factor must be in (0, 1], got {t.lr_decay_factor}")
