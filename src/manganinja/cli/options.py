"""The model's run options that several commands take (``colorize``, ``shot colorize``), declared
once: the same name, type, default (:func:`manganinja.settings.option_default`, the settings
types) and help wherever they appear. A command lists them as parameter defaults
(``steps: Optional[int] = options.STEPS``); they reach the library through
:meth:`manganinja.settings.RunSettings.from_options` under the same names."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from manganinja.cli import flag
from manganinja.settings import option_default

MODEL: Optional[str] = typer.Option(None, "--model", metavar="DIR", help="ninja: converted model folder (or Hugging Face id).")
OFFICIAL: Optional[Path] = typer.Option(None, "--official", metavar="DIR", help="ninja: official checkpoint folder.")
STEPS: Optional[int] = typer.Option(None, "--steps", help="ninja: denoising steps (default: the model's recommendation, else 50; 20 with --fast).")
FAST: bool = flag(option_default("fast"), "fast", "ninja: DPM-Solver++ 20 steps; on a GPU also fp16 and torch.compile.")  # type: ignore[arg-type]
GUIDANCE_REF: Optional[float] = typer.Option(None, "--guidance-ref", help="ninja: reference guidance scale (default: the model's recommendation, else the official value).")
GUIDANCE_POINT: Optional[float] = typer.Option(None, "--guidance-point", help="ninja: point guidance scale (default: the model's recommendation, else the official value).")
GUIDANCE: str = typer.Option(option_default("guidance"), "--guidance", help="ninja: guidance formula, official or paper.")
SEED: int = typer.Option(option_default("seed"), "--seed", help="ninja: seed of the initial noise (the same for every page or frame).")
RESOLUTION: Optional[int] = typer.Option(None, "--resolution", help="ninja: processing long side, a multiple of 64 (default: the model's, else 512).")
REFERENCE_MODE: str = typer.Option(option_default("reference_mode"), "--reference-mode", help="ninja: several references (in a shot: the keyframes and the previous result), concat or stitch.")
DEVICE: str = typer.Option(option_default("device"), "--device", metavar="DEVICE", help="ninja: auto, cpu, cuda or cuda:N.")
DTYPE: str = typer.Option(option_default("dtype"), "--dtype", help="ninja: fp32, fp16 or bf16.")
