"""Seconds per training step of one part of the chain, with settings changed on the command
line (docs/reproduce.md, twenty-first and twenty-second attempts: what was tried to make the
default chain faster).

The part runs as its config says (``manganinja train --config CONFIG``, or with
``--autoencoder`` ``manganinja train-autoencoder --config CONFIG``: the same trainer, data and
model), except that it stops after ``--steps`` steps, saves no model, and writes only into a
temporary folder, removed after (the one checkpoint the diffusion trainer saves at the last step
goes there; the autoencoder's saves none). ``--set KEY=VALUE`` changes one setting of the config
(dotted path, the value read as YAML), e.g. ``--set data.num_workers=1``, ``--set
train.mixed_precision=bf16`` or ``--set "data.synthetic=[runs/full20/data/train]"``. Printed: the
seconds per step (the diffusion trainer's own measure, first step included; for the autoencoder
the wall time of its steps, frame loading and model building not counted) and the losses of the
first and last steps (for the autoencoder its reconstruction MSE), which show whether a change
kept the run the same (a data-loading change must not change them).

    python benchmarks/tiny_step_time.py runs/full20/hints/config.yaml --steps 80
    python benchmarks/tiny_step_time.py runs/full20/hints/config.yaml --steps 80 --set data.num_workers=1
    python benchmarks/tiny_step_time.py configs/tiny_synthetic_autoencoder.yaml --autoencoder --steps 200 \
        --set "data.synthetic=[runs/full20/data/train]" --set data.holdout=[] [--set train.mixed_precision=bf16]

Run with the package installed, as the README installs it, from the folder the
config's paths are relative to (the repository root for the chain's configs).
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from pathlib import Path

import yaml

from manganinja.cli import run_script
from manganinja.images import write_json_atomic
from manganinja.requests import RequestError, check_at_least, check_report_path


def parse_setting(text: str) -> dict:
    """``"a.b.c=VALUE"`` as the nested override ``{"a": {"b": {"c": VALUE}}}`` (VALUE read as YAML,
    except that YAML 1.1's other booleans stay text: ``mixed_precision=no`` is ``"no"``, as the
    configs mean it; only ``true`` / ``false`` are booleans).
    Raises ValueError for text without ``=`` or with an empty key."""
    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ValueError(f"--set {text}: give KEY=VALUE with a dotted key, e.g. train.mixed_precision=bf16")
    read = yaml.safe_load(value)
    if isinstance(read, bool) and value.strip().lower() not in ("true", "false"):
        read = value.strip()
    tree: dict = {parts[-1]: read}
    for part in reversed(parts[:-1]):
        tree = {part: tree}
    return tree


def step_time(config: Path, steps: int, overrides: dict) -> dict:
    """Run ``steps`` steps of the part ``config`` with ``overrides`` (a nested dict, as
    :func:`~manganinja.training.config.load_config` takes it); returns
    ``{"seconds_per_step", "steps", "first_loss", "last_loss"}``."""
    from manganinja.training.config import load_config, merge_dicts
    from manganinja.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        overrides = merge_dicts(overrides, {"train": {"output_dir": tmp, "resume": None, "save_final": False,
                                                      "checkpoint_every": 10**9, "steps": 10**9}})
        result = Trainer(load_config(config, overrides)).train(max_steps=steps)
    return {"seconds_per_step": result.seconds_per_step, "steps": len(result.losses),
            "first_loss": result.losses[0], "last_loss": result.losses[-1]}


def autoencoder_step_time(config: Path, steps: int, overrides: dict) -> dict:
    """As :func:`step_time` for an autoencoder config (``manganinja train-autoencoder``); the
    losses are the reconstruction MSE of each step, the seconds those of the steps alone."""
    from manganinja.training.autoencoder import load_autoencoder_config, train_autoencoder
    from manganinja.training.config import merge_dicts

    with tempfile.TemporaryDirectory() as tmp:
        overrides = merge_dicts(overrides, {"train": {"output_dir": tmp, "checkpoint_every": 0, "eval_every": 0,
                                                      "log_every": 1, "steps": 10**9}})
        result = train_autoencoder(load_autoencoder_config(config, overrides), log=False, max_steps=steps)
    mse = [m for _, m, _ in result["losses"]]
    return {"seconds_per_step": result["seconds_per_step"], "steps": len(mse), "first_loss": mse[0], "last_loss": mse[-1]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", type=Path, help="a part's config, e.g. runs/full20/stage1/config.yaml")
    p.add_argument("--autoencoder", action="store_true", help="the config is an autoencoder's (manganinja train-autoencoder)")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="change one setting (repeatable), e.g. data.num_workers=1")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    if not args.config.is_file():
        raise RequestError(f"{args.config}: no such config file")
    from manganinja.training.autoencoder import load_autoencoder_config
    from manganinja.training.config import load_config, merge_dicts

    check_at_least({"--steps": args.steps}, 1)
    if args.json is not None:
        check_report_path(args.json, "--json", [("config", args.config)])

    # a bad setting is refused here, before any model is built (a ValueError: run_script's one line)
    overrides = functools.reduce(merge_dicts, [parse_setting(s) for s in args.settings], {})
    (load_autoencoder_config if args.autoencoder else load_config)(args.config, overrides)
    figures = (autoencoder_step_time if args.autoencoder else step_time)(args.config, args.steps, overrides)
    shown = " ".join(args.settings) or "as configured"
    print(f"# {args.config}, {shown}: {figures['steps']} steps")
    print(f"{figures['seconds_per_step']:.4f} s/step; loss at the first step {figures['first_loss']:.6f}, "
          f"at the last {figures['last_loss']:.6f}")
    if args.json is not None:
        write_json_atomic({"config": str(args.config), "settings": args.settings, **figures}, args.json)
    return 0


if __name__ == "__main__":
    run_script(main)
