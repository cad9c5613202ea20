"""The hard runs of a synthetic benchmark, and one engine against another on them.

A run (a pair and a direction, :data:`~manganinja.evaluation.benchmark.DIRECTIONS`) is *hard*
when its reference misses parts of the target (cropped, occluded or hidden) that cover more than
:data:`HARD_THRESHOLD` of the target's character pixels: for those parts nothing in the reference
matches, and any engine has to guess. Issue 19 asks the model to beat the weight-free flat
engine on these runs (:func:`compare_on_hard_runs`).

The part maps come from regenerating each pair of a folder written by
:func:`~manganinja.evaluation.benchmark.write_synthetic_benchmark` (``generate_pair(
default_rng([seed, i]), size)``, seed and size from its manifest); a folder of another generator
version, or whose pictures differ from the regenerated ones, is refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from manganinja.evaluation.benchmark import BenchmarkError, BenchmarkPair, load_pair, read_manifest
from manganinja.evaluation.metrics import mean_ci95

if TYPE_CHECKING:
    from manganinja.data.synthetic_pairs import SyntheticPair

#: A run is hard when more than this share of the target's character pixels lie in parts its
#: reference does not show.
HARD_THRESHOLD = 0.02

#: A run of a benchmark folder: (pair folder name, direction ``"a->b"`` or ``"b->a"``).
Run = tuple[str, str]


def missing_share(reference_parts: np.ndarray, target_parts: np.ndarray) -> float:
    """Share of the target's character pixels (part map ``target_parts`` (H, W), 0 background)
    whose part does not appear in ``reference_parts`` (H, W); 0.0 for a target without character."""
    character = target_parts > 0
    if not character.any():
        return 0.0
    shown = np.isin(target_parts, np.unique(reference_parts[reference_parts > 0]))
    return float((character & ~shown).sum() / character.sum())


def synthetic_pairs(data: str | os.PathLike) -> Iterator[tuple[str, BenchmarkPair, "SyntheticPair"]]:
    """Each pair of the synthetic benchmark folder ``data``, as stored and regenerated (with its
    part maps): ``(pair folder name, load_pair(data, name), generate_pair(default_rng([seed, i]),
    size))``, seed and size from its manifest, the regenerated pictures checked against the
    stored ``a`` (the pair's reference) and ``b``.

    Raises:
        BenchmarkError: ``data`` was not written by ``write_synthetic_benchmark`` with this
            generator version (no seed in its manifest, another version, or a picture that is not
            the regenerated pair's).
    """
    from manganinja.data.synthetic import GENERATOR_VERSION, generate_pair

    data = Path(data)
    manifest = read_manifest(data)
    if "seed" not in manifest or "size" not in manifest:
        raise BenchmarkError(f"{data} is not a synthetic benchmark (its manifest names no seed and size); "
                             "make one with manganinja benchmark synth")
    if manifest.get("generator_version") != GENERATOR_VERSION:
        raise BenchmarkError(f"{data} was drawn by generator version {manifest.get('generator_version')!r}, this is "
                             f"{GENERATOR_VERSION!r}: its part maps cannot be regenerated; draw it again with manganinja benchmark synth")
    seed, size = int(manifest["seed"]), int(manifest["size"])
    for i, name in enumerate(manifest["pairs"]):
        pair = generate_pair(np.random.default_rng([seed, i]), size=size)
        stored = load_pair(data, name)
        if not (np.array_equal(pair.reference, np.asarray(stored.a.convert("RGB")))
                and np.array_equal(pair.target, np.asarray(stored.b.convert("RGB")))):
            raise BenchmarkError(f"{data / name}: its pictures are not generate_pair(default_rng([{seed}, {i}])) as its "
                                 "manifest says; draw the benchmark again with manganinja benchmark synth")
        yield name, stored, pair


def synthetic_missing_shares(data: str | os.PathLike) -> dict[Run, float]:
    """:func:`missing_share` of every run of the synthetic benchmark folder ``data``
    (:func:`synthetic_pairs`): a->b has picture ``a`` as the reference, b->a picture ``b``."""
    shares: dict[Run, float] = {}
    for name, _, pair in synthetic_pairs(data):
        shares[(name, "a->b")] = missing_share(pair.reference_parts, pair.target_parts)
        shares[(name, "b->a")] = missing_share(pair.target_parts, pair.reference_parts)
    return shares


@dataclass(frozen=True)
class GroupComparison:
    """One group of runs (``hard``, ``others`` or ``all``) scored by two engines: mean PSNR (dB)
    of each, the paired difference ``model - baseline`` with its 95 % half-width, and in how many
    runs the model is strictly better. ``runs`` 0: no run in the group (the means are NaN)."""

    group: str
    runs: int
    missing_share: float
    baseline: float
    model: float
    difference: float
    half_width: float
    model_better: int


def compare_on_hard_runs(shares: Mapping[Run, float], baseline: Mapping[Run, float], model: Mapping[Run, float],
                         threshold: float = HARD_THRESHOLD) -> list[GroupComparison]:
    """``model`` against ``baseline`` (PSNR per run) on the hard runs of ``shares`` (missing
    share above ``threshold``), on the others and on all, in that order; only runs scored by both
    engines count."""
    groups = (("hard", lambda v: v > threshold), ("others", lambda v: v <= threshold), ("all", lambda v: True))
    out = []
    for label, pick in groups:
        runs = [r for r, share in shares.items() if pick(share) and r in baseline and r in model]
        if not runs:
            out.append(GroupComparison(label, 0, *(float("nan"),) * 5, 0))
            continue
        base = np.array([baseline[r] for r in runs], dtype=np.float64)
        ours = np.array([model[r] for r in runs], dtype=np.float64)
        mean, half, _ = mean_ci95(list(ours - base))
        out.append(GroupComparison(label, len(runs), float(np.mean([shares[r] for r in runs])), float(base.mean()),
                                   float(ours.mean()), float(mean), float(half), int((ours > base).sum())))
    return out


def comparison_markdown(rows: list[GroupComparison], baseline: str, model: str) -> list[str]:
    """The markdown table of :func:`compare_on_hard_runs`'s rows, columns named after the
    ``baseline`` and ``model`` engines."""
    lines = [f"| runs | n | missing share (mean) | {baseline} | {model} | {model} − {baseline} (paired) | {model} better |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.runs == 0:
            lines.append(f"| {r.group} | 0 | | | | | |")
            continue
        lines.append(f"| {r.group} | {r.runs} | {r.missing_share:.3f} | {r.baseline:.2f} | {r.model:.2f} "
                     f"| {r.difference:+.2f} ± {r.half_width:.2f} | {r.model_better} / {r.runs} |")
    return lines
