"""Summary table, provenance and figures of a benchmark results folder.

:func:`summary_table` is a pure function of the run rows (so a resumed run gives the same table);
:func:`write_report` adds the provenance (package versions, engine settings, machine) and the two
figures (matplotlib, Agg backend).
"""

from __future__ import annotations

import json
import os
import platform
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from manganinja.evaluation.metrics import mean_ci95
from manganinja.images import load_image, to_rgb, write_bytes_atomic, write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: Metric column -> (table header, decimals, higher is better).
METRICS: dict[str, tuple[str, int, bool]] = {
    "psnr": ("PSNR (dB)", 2, True),
    "ms_ssim": ("MS-SSIM", 4, True),
    "point_mse": ("point MSE", 4, False),
    "clip_i": ("CLIP-I", 4, True),
    "dino_i": ("DINO-I", 4, True),
    "lpips": ("LPIPS", 4, False),
}

#: The model each feature metric needs, as named in settings.json's "metrics".
METRIC_MODELS = {"clip_i": "clip", "dino_i": "dino", "lpips": "lpips"}

PACKAGES = ("manganinja", "numpy", "scipy", "opencv-python-headless", "pillow", "torch",
            "diffusers", "transformers", "matplotlib")


def summarize(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Group rows by (engine, n_guide_points); per metric the mean, 95% CI half-width and count.

    Returns one dict per group, sorted by engine then points: ``{"engine", "n_guide_points",
    "runs", "<metric>": (mean, half_width, n)}``.
    """
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(str(row["engine"]), int(row["n_guide_points"]))].append(row)
    out = []
    for (engine, k), members in sorted(groups.items()):
        entry: dict[str, Any] = {"engine": engine, "n_guide_points": k, "runs": len(members)}
        for metric in METRICS:
            entry[metric] = mean_ci95([r[metric] for r in members if r.get(metric) is not None])
        out.append(entry)
    return out


def _cell(stats: tuple[float, float, int], decimals: int, absent: bool) -> str:
    mean, half, n = stats
    if n == 0:
        return "absent" if absent else "n/a"
    if not np.isfinite(half):
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {half:.{decimals}f}"


def summary_table(rows: Sequence[Mapping[str, Any]], metric_models: Mapping[str, str] | None = None) -> str:
    """Markdown table: one line per (engine, guidance points), mean ± 95% CI per metric.

    A feature metric whose model was not given (``metric_models[model] == "absent"``) shows
    "absent"; a metric with no values otherwise (no scored points) shows "n/a".
    """
    models = dict(metric_models or {})
    header = ["engine", "guide points", "runs"] + [METRICS[m][0] for m in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in summarize(rows):
        cells = [entry["engine"], str(entry["n_guide_points"]), str(entry["runs"])]
        for metric, (_, decimals, _) in METRICS.items():
            absent = models.get(METRIC_MODELS.get(metric, ""), "") == "absent"
            cells.append(_cell(entry[metric], decimals, absent))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that matter for the numbers."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine_info() -> dict[str, Any]:
    """Platform, CPU model and count, Python, torch version and the accelerator (if any)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu": cpu, "cpu_count": os.cpu_count()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - torch is a dependency
        info["torch"] = "not installed"
        info["device"] = "cpu"
    return info


def write_report(
    out: str | os.PathLike,
    rows: Sequence[Mapping[str, Any]],
    problems: Sequence[Mapping[str, str]],
    data: str | os.PathLike,
    command: str | None = None,
    examples: int = 4,
) -> Path:
    """Write ``summary.md``, ``summary.json``, ``examples.png`` and ``metrics.png`` into ``out``
    (a results folder with its settings.json); returns the path of summary.md."""
    out = Path(out)
    settings = json.loads((out / "settings.json").read_text(encoding="utf-8"))
    table = summary_table(rows, settings.get("metrics"))
    seconds: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.get("seconds") is not None:
            seconds[str(row["engine"])].append(float(row["seconds"]))
    versions, machine = package_versions(), machine_info()
    lines = ["# Benchmark results", ""]
    if command:
        lines += ["Command:", "", f"```\n{command}\n```", ""]
    lines += [
        f"Data: `{settings.get('data')}`; {len(rows)} runs; {len(problems)} problems "
        "(see problems.csv). Mean ± 95% confidence interval (Student t) over runs.",
        "PSNR and MS-SSIM on the target's foreground composited on white; point MSE over 3x3 "
        "patches at the scored annotated points, colors in [0, 1]; CLIP-I / DINO-I are cosine "
        "similarities (the paper reports them x100).",
        "",
        table,
        "## Settings",
        "",
        f"- line-art extractor: `{settings.get('extractor')}`",
        f"- guidance points: {settings.get('guide_points')}; seeds: {settings.get('seeds')}",
        f"- feature metrics models: {json.dumps(settings.get('metrics'))}",
    ]
    for name, engine_settings in sorted(settings.get("engines", {}).items()):
        lines.append(f"- engine `{name}`: {json.dumps(engine_settings, sort_keys=True)}")
    lines += ["", "## Time per run (engine call only)", ""]
    for name, values in sorted(seconds.items()):
        lines.append(f"- {name}: mean {np.mean(values) * 1000:.1f} ms over {len(values)} runs")
    lines += ["", "## Machine and packages", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    lines += [f"- {k}: {v}" for k, v in versions.items()]
    if problems:
        lines += ["", "## Problems", ""]
        lines += [f"- {p['pair']} {p.get('direction', '')} {p.get('engine', '')} ({p['stage']}): "
                  f"{p['message']}" for p in problems]
    text = "\n".join(lines) + "\n"
    summary = out / "summary.md"
    write_bytes_atomic(text.encode("utf-8"), summary)
    payload = {"summary": [{**e, **{m: list(e[m]) for m in METRICS}} for e in summarize(rows)],
               "settings": settings, "machine": machine, "packages": versions,
               "problems": list(problems), "command": command}
    write_json_atomic(payload, out / "summary.json", default=float)
    if rows:
        plot_metrics(rows, out / "metrics.png", settings.get("metrics"))
        plot_examples(rows, Path(data), out, out / "examples.png", examples)
    return summary


def _save_figure(fig: Figure, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    write_bytes_atomic(buf.getvalue(), path)


def plot_metrics(rows: Sequence[Mapping[str, Any]], path: Path,
                 metric_models: Mapping[str, str] | None = None) -> None:
    """One bar chart per metric with values: bars per (engine, points), 95% CI error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = summarize(rows)
    shown = [m for m in METRICS if any(e[m][2] for e in entries)]
    fig, axes = plt.subplots(1, max(len(shown), 1), figsize=(3.2 * max(len(shown), 1), 3.4), squeeze=False)
    labels = [f"{e['engine']}\nk={e['n_guide_points']}" for e in entries]
    for ax, metric in zip(axes[0], shown):
        means = [e[metric][0] if e[metric][2] else 0.0 for e in entries]
        errs = [e[metric][1] if np.isfinite(e[metric][1]) else 0.0 for e in entries]
        ax.bar(range(len(entries)), means, yerr=errs, capsize=3, color="#4c72b0")
        ax.set_xticks(range(len(entries)), labels, fontsize=7)
        name, _, higher = METRICS[metric]
        ax.set_title(f"{name} ({'higher' if higher else 'lower'} is better)", fontsize=8)
    if not shown:
        axes[0][0].set_axis_off()
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)


def plot_examples(rows: Sequence[Mapping[str, Any]], data: Path, out: Path, path: Path, count: int = 4) -> None:
    """Grid: one row per example (a->b, the largest guidance condition, first seed) with line
    art | reference | each engine's result | ground truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k_max = max(int(r["n_guide_points"]) for r in rows)
    seed0 = min(int(r["seed"]) for r in rows)
    chosen = [r for r in rows if r["direction"] == "a->b" and int(r["n_guide_points"]) == k_max
              and int(r["seed"]) == seed0]
    engines = sorted({str(r["engine"]) for r in chosen})
    pairs = sorted({str(r["pair"]) for r in chosen})[:count]
    if not pairs:
        return
    by_key = {(str(r["pair"]), str(r["engine"])): r for r in chosen}
    cols = ["line art", "reference", *[f"{e} (k={k_max})" for e in engines], "ground truth"]
    fig, axes = plt.subplots(len(pairs), len(cols), figsize=(2.0 * len(cols), 2.0 * len(pairs)), squeeze=False)
    for i, pair in enumerate(pairs):
        images = [out / f"images/lineart/{pair}_atob.png", data / pair / "a.png"]
        images += [out / by_key[(pair, e)]["result"] if (pair, e) in by_key else None for e in engines]
        images.append(data / pair / "b.png")
        for j, img_path in enumerate(images):
            ax = axes[i][j]
            ax.set_axis_off()
            if i == 0:
                ax.set_title(cols[j], fontsize=8)
            if img_path is not None and Path(img_path).exists():
                ax.imshow(np.asarray(to_rgb(load_image(img_path))))
        axes[i][0].text(-0.05, 0.5, pair, transform=axes[i][0].transAxes, rotation=90,
                        va="center", ha="right", fontsize=8)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
