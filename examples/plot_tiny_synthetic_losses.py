"""Loss curves of the tiny synthetic reproduction (docs/reproduce.md).

    python examples/plot_tiny_synthetic_losses.py       # -> docs/images/tiny_synthetic_loss.png
    python examples/plot_tiny_synthetic_losses.py RUNS OUT.png

Panels: the autoencoder's reconstruction MSE (``runs/tiny_synthetic_autoencoder/final/loss.csv``),
stage 1 with and without patch shuffle, stage 2 (noise-prediction loss from the TensorBoard logs,
with a moving average).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plot_training_loss import read_scalars  # noqa: E402


def smooth(values: np.ndarray, window: int = 15) -> np.ndarray:
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode="valid")


def main(runs: Path = Path("runs"), out: Path = Path("docs/images/tiny_synthetic_loss.png")) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=100)
    rows = list(csv.DictReader((runs / "tiny_synthetic_autoencoder/final/loss.csv").open()))
    steps = np.array([int(r["step"]) for r in rows])
    mse = np.array([float(r["mse"]) for r in rows])
    axes[0].plot(steps, mse, color="#357")
    axes[0].set_yscale("log")
    axes[0].set(title="autoencoder: pixel MSE ([-1, 1] range)", xlabel="step")
    for name, label, color in (("tiny_synthetic_stage1", "stage 1", "#c40"), ("tiny_synthetic_stage1_noshuffle", "stage 1, no shuffle", "#49a")):
        s, loss = read_scalars(runs / name, "loss")
        if len(s):
            axes[1].plot(s, loss, color=color, alpha=0.25, lw=0.8)
            axes[1].plot(s[len(s) - len(smooth(loss)):], smooth(loss), color=color, label=label)
    axes[1].set(title="stage 1: loss (noise, or velocity with v-prediction)", xlabel="step")
    axes[1].legend()
    s, loss = read_scalars(runs / "tiny_synthetic_stage2", "loss")
    if len(s):
        axes[2].plot(s, loss, color="#5a3", alpha=0.25, lw=0.8)
        axes[2].plot(s[len(s) - len(smooth(loss)):], smooth(loss), color="#5a3")
    axes[2].set(title="stage 2 (PointNet only)", xlabel="step")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:3]))  # optional: runs folder, output picture
