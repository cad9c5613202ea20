"""Plot the loss and learning rate of a training run from its TensorBoard logs.

    python examples/plot_training_loss.py runs/tiny_cpu docs/images/training_tiny_loss.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def read_scalars(run_dir: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``tag`` across the run's event files, later files winning a step."""
    values: dict[int, float] = {}
    for events in sorted((run_dir / "logs").rglob("events.out.tfevents*"), key=lambda p: p.stat().st_mtime):
        acc = EventAccumulator(str(events))
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            for e in acc.Scalars(tag):
                values[e.step] = e.value
    steps = np.array(sorted(values))
    return steps, np.array([values[s] for s in steps])


def main(run_dir: str, out: str) -> None:
    steps, loss = read_scalars(Path(run_dir), "loss")
    _, lr = read_scalars(Path(run_dir), "lr")
    if not len(steps):
        raise SystemExit(f"no 'loss' scalars under {run_dir}/logs")
    window = min(20, len(loss))
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    ax.plot(steps, loss, color="#9ab", lw=0.8, label="loss (per step)")
    ax.plot(steps[window - 1 :], smooth, color="#135", lw=1.8, label=f"mean of {window}")
    ax.set_xlabel("step")
    ax.set_ylabel("noise-prediction MSE")
    ax.grid(alpha=0.3)
    if len(lr):
        ax2 = ax.twinx()
        ax2.plot(steps[: len(lr)], lr, color="#c63", lw=1.0, ls="--", label="learning rate")
        ax2.set_ylabel("learning rate")
        ax2.set_yscale("log")
    ax.legend(loc="upper right")
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"{len(steps)} steps; first 10 mean {loss[:10].mean():.4f}, last 20 mean {loss[-20:].mean():.4f}; wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
