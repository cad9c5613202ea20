"""The paper's evaluation protocol (section 3.4) on a benchmark folder.

Benchmark folder format::

    DIR/manifest.json        {"format": "manganinja-benchmark", "version": 1,
                              "pairs": ["0000", "0001", ...], ...free-form provenance...}
    DIR/<pair>/a.png         color image of the character
    DIR/<pair>/b.png         another color image of the same character (any size)
    DIR/<pair>/a_mask.png    optional foreground of a (white = foreground), a's size
    DIR/<pair>/b_mask.png    optional foreground of b, b's size
    DIR/<pair>/points.json   optional annotated pairs (PointPairs JSON): "reference" = point in a,
                             "lineart" = the same spot in b

Protocol (:func:`evaluate`): for each pair and each direction (``a->b``: reference a, target b;
``b->a``: reference b, target a, the points swapped), the target's line art is extracted with a
fixed extractor, and every engine colorizes it for every guidance condition (0 points, and K
points), for every seed. The annotated points are split once per (pair, seed, K) by a seeded
permutation: the first ``min(K, N - 1)`` are given to the engine, the other ones are scored with
the point MSE, in both conditions (so the 0-point and the K-point runs are scored on the same
points). Scores: PSNR and MS-SSIM on the target's foreground composited on white (whole image
without a mask), point MSE, and CLIP-I / DINO-I / LPIPS when their models are given.

Results folder (:func:`evaluate` writes; a second call resumes, repeating no finished run)::

    runs.csv        one row per run, keyed by (pair, direction, engine, n_guide_points, seed)
    problems.csv    one row per pair (or run) that could not be evaluated, with the reason
    settings.json   extractor, engines and their settings, metrics models; a resume must match
    images/         results and line arts, PNG
    summary.md      the table (mean and 95% CI per metric, engine and condition) and provenance
    examples.png    line art | reference | each engine's result | ground truth, a few pairs
    metrics.png     one bar chart per metric with 95% CI
    evaluate.log    what happened, including every problem
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from manganinja.colorize import PreparedEngine, prepare
from manganinja.engines import Engine
from manganinja.evaluation import metrics as M
from manganinja.images import ImageInputError, load_image, save_image, to_rgb, write_bytes_atomic, write_json_atomic
from manganinja.lines import Lines
from manganinja.points import PointPairs, PointsError

LOG = logging.getLogger("manganinja.benchmark")

MANIFEST = "manifest.json"
FORMAT_NAME = "manganinja-benchmark"
FORMAT_VERSION = 1
DIRECTIONS = ("a->b", "b->a")

#: Columns of runs.csv; metric columns are empty when the metric is absent for that run.
KEY_COLUMNS = ("pair", "direction", "engine", "n_guide_points", "seed")
METRIC_COLUMNS = ("psnr", "ms_ssim", "point_mse", "clip_i", "dino_i", "lpips")
RUN_COLUMNS = (*KEY_COLUMNS, "n_guide_used", "n_scored", *METRIC_COLUMNS, "seconds", "result")
PROBLEM_COLUMNS = ("pair", "direction", "engine", "n_guide_points", "seed", "stage", "message")

#: A line-art extractor: RGB PIL image -> its :class:`~manganinja.lines.Lines` (same size).
Extractor = Callable[[Image.Image], Lines]

#: An image embedder for CLIP-I / DINO-I: RGB uint8 (H, W, 3) -> 1-D embedding.
Embedder = Callable[[np.ndarray], np.ndarray]

#: A perceptual distance (LPIPS): two RGB uint8 (H, W, 3) -> float.
Distance = Callable[[np.ndarray, np.ndarray], float]


class BenchmarkError(ValueError):
    """A benchmark folder or results folder is unusable as a whole; the message names it."""


class PairError(ValueError):
    """One pair of a benchmark folder is unusable; the message names the pair and the file."""


@dataclass(frozen=True)
class BenchmarkPair:
    """One loaded pair: two RGB images, optional bool (H, W) masks, optional annotated points."""

    name: str
    a: Image.Image
    b: Image.Image
    a_mask: np.ndarray | None
    b_mask: np.ndarray | None
    points: PointPairs | None

    def direction(self, direction: str) -> tuple[Image.Image, Image.Image, np.ndarray | None, PointPairs | None]:
        """(reference, target, target mask, points with "reference" on the reference image)."""
        if direction == "a->b":
            return self.a, self.b, self.b_mask, self.points
        if direction == "b->a":
            swapped = None
            if self.points is not None:
                swapped = PointPairs.from_arrays(self.points.lineart_xy, self.points.reference_xy)
            return self.b, self.a, self.a_mask, swapped
        raise BenchmarkError(f"unknown direction '{direction}'; expected one of {DIRECTIONS}")


# ---------------------------------------------------------------------------------------------
# Folder format
# ---------------------------------------------------------------------------------------------
def read_manifest(root: str | os.PathLike) -> dict[str, Any]:
    """Read ``root/manifest.json``; raises :class:`BenchmarkError` naming what is wrong."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise BenchmarkError(
            f"benchmark folder '{root}': no {MANIFEST} (expected {{\"pairs\": [\"<subfolder>\", ...]}})"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchmarkError(f"'{path}': cannot be read as JSON ({exc})") from exc
    pairs = data.get("pairs") if isinstance(data, dict) else None
    if not isinstance(pairs, list) or not all(isinstance(p, str) and p for p in pairs):
        raise BenchmarkError(f"'{path}': 'pairs' must be a list of subfolder names")
    if len(set(pairs)) != len(pairs):
        raise BenchmarkError(f"'{path}': 'pairs' lists a subfolder twice")
    bad = [p for p in pairs if Path(p).name != p or p in (".", "..")]
    if bad:
        raise BenchmarkError(f"'{path}': pair names must be plain subfolder names, got {bad[:3]}")
    return data


def write_manifest(root: str | os.PathLike, pairs: Sequence[str], **provenance: Any) -> Path:
    """Write ``root/manifest.json`` atomically listing ``pairs``; ``provenance`` is kept as is."""
    data = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "pairs": list(pairs), **provenance}
    return write_json_atomic(data, Path(root) / MANIFEST)


def write_pair(
    root: str | os.PathLike,
    name: str,
    a: Image.Image | np.ndarray,
    b: Image.Image | np.ndarray,
    a_mask: np.ndarray | None = None,
    b_mask: np.ndarray | None = None,
    points: PointPairs | None = None,
) -> Path:
    """Write one pair folder ``root/name`` (images and masks as PNG, masks bool (H, W))."""
    folder = Path(root) / name
    save_image(a, folder / "a.png")
    save_image(b, folder / "b.png")
    for mask, fname in ((a_mask, "a_mask.png"), (b_mask, "b_mask.png")):
        if mask is not None:
            save_image(np.where(np.asarray(mask, bool), 255, 0).astype(np.uint8), folder / fname)
    if points is not None:
        points.to_json(folder / "points.json")
    return folder


def _load_mask(path: Path, size: tuple[int, int], pair: str, image: str) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        mask = np.asarray(load_image(path, name=f"pair '{pair}' {path.name}").convert("L"))
    except ImageInputError as exc:
        raise PairError(str(exc)) from exc
    if (mask.shape[1], mask.shape[0]) != size:
        raise PairError(
            f"pair '{pair}': {path.name} is {mask.shape[1]}x{mask.shape[0]} but {image} is "
            f"{size[0]}x{size[1]}"
        )
    return mask > 127


def load_pair(root: str | os.PathLike, name: str) -> BenchmarkPair:
    """Load and check the pair folder ``root/name``.

    Raises:
        PairError: a missing or unreadable image, a mask whose size differs from its image, a
            malformed point file or a point outside its image (the message names which).
    """
    folder = Path(root) / name
    if not folder.is_dir():
        raise PairError(f"pair '{name}': folder '{folder}' not found")
    images = []
    for key in ("a", "b"):
        path = folder / f"{key}.png"
        if not path.exists():
            raise PairError(f"pair '{name}': image '{path}' is missing")
        try:
            images.append(to_rgb(load_image(path, name=f"pair '{name}' {key}.png")))
        except ImageInputError as exc:
            raise PairError(str(exc)) from exc
    a, b = images
    a_mask = _load_mask(folder / "a_mask.png", a.size, name, "a.png")
    b_mask = _load_mask(folder / "b_mask.png", b.size, name, "b.png")
    points = None
    if (folder / "points.json").exists():
        try:
            points = PointPairs.from_json(folder / "points.json")
            points.validate(a.size, b.size, max_pairs=None)
        except PointsError as exc:
            raise PairError(f"pair '{name}': points.json: {exc}") from exc
    return BenchmarkPair(name, a, b, a_mask, b_mask, points)


# ---------------------------------------------------------------------------------------------
# Protocol pieces
# ---------------------------------------------------------------------------------------------
def split_points(n_points: int, n_guide: int, pair: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the guidance points and of the scored points, disjoint, covering all points.

    A seeded permutation of ``range(n_points)`` (seeded by ``seed`` and the pair's name, so both
    directions and every engine share it); the first ``min(n_guide, n_points - 1)`` guide (at
    least one point is always left to score when there are any), the rest are scored.
    """
    if n_guide < 0:
        raise BenchmarkError(f"number of guidance points must be >= 0, got {n_guide}")
    rng = np.random.default_rng([int(seed), zlib.crc32(pair.encode("utf-8"))])
    order = rng.permutation(n_points)
    k = min(n_guide, max(n_points - 1, 0))
    return np.sort(order[:k]), np.sort(order[k:])


def run_key(row: Mapping[str, Any]) -> tuple[str, str, str, int, int]:
    """The identity of a run: (pair, direction, engine, n_guide_points, seed)."""
    return (str(row["pair"]), str(row["direction"]), str(row["engine"]),
            int(row["n_guide_points"]), int(row["seed"]))


@dataclass(frozen=True)
class Scorers:
    """Optional feature-based metrics; ``None`` means absent (reported as such, never faked)."""

    clip: Embedder | None = None
    dino: Embedder | None = None
    lpips: Distance | None = None


def score(
    result: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None,
    scored_xy: np.ndarray,
    scorers: Scorers = Scorers(),
) -> dict[str, float | None]:
    """All metrics of one run. ``result``/``target``: uint8 (H, W, 3); ``mask``: bool (H, W) or
    None; ``scored_xy``: (N, 2) target points (point MSE is None when N = 0). Feature metrics
    see both images composited on white outside the mask."""
    out: dict[str, float | None] = {
        "psnr": M.psnr(result, target, mask),
        "ms_ssim": M.ms_ssim(result, target, mask),
        "point_mse": M.point_mse(result, target, scored_xy) if len(scored_xy) else None,
        "clip_i": None,
        "dino_i": None,
        "lpips": None,
    }
    if scorers.clip or scorers.dino or scorers.lpips:
        res_fg = (M.composite_on_white(result, mask) * 255.0 + 0.5).astype(np.uint8)
        tgt_fg = (M.composite_on_white(target, mask) * 255.0 + 0.5).astype(np.uint8)
        if scorers.clip:
            out["clip_i"] = M.cosine_similarity(scorers.clip(res_fg), scorers.clip(tgt_fg))
        if scorers.dino:
            out["dino_i"] = M.cosine_similarity(scorers.dino(res_fg), scorers.dino(tgt_fg))
        if scorers.lpips:
            out["lpips"] = float(scorers.lpips(res_fg, tgt_fg))
    return out


# ---------------------------------------------------------------------------------------------
# CSV files of the results folder
# ---------------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], path: Path) -> None:
    """Write rows atomically (missing or None cells are empty)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_fmt(row.get(c)) for c in columns])
    write_bytes_atomic(buf.getvalue().encode("utf-8"), path)


def read_runs(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a runs.csv with numbers parsed (empty metric cells -> None); [] if absent."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            row: dict[str, Any] = dict(raw)
            for col in ("n_guide_points", "seed", "n_guide_used", "n_scored"):
                row[col] = int(row[col])
            for col in (*METRIC_COLUMNS, "seconds"):
                row[col] = float(row[col]) if row.get(col) not in (None, "") else None
            rows.append(row)
    return rows


def read_problems(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a problems.csv; [] if absent."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [dict(r) for r in csv.DictReader(handle)]


# ---------------------------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------------------------
def _result_name(key: tuple[str, str, str, int, int]) -> str:
    pair, direction, engine, k, seed = key
    return f"images/{engine}/{pair}_{direction.replace('->', 'to')}_k{k}_s{seed}.png"


def _check_settings(out: Path, settings: Mapping[str, Any]) -> None:
    """Write settings.json, or check that a resumed run uses the same settings."""
    path = out / "settings.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        for key in ("extractor", "metrics"):
            if old.get(key) != settings.get(key):
                raise BenchmarkError(
                    f"results folder '{out}' was made with {key} {old.get(key)!r}, not "
                    f"{settings.get(key)!r}; use another --output-dir"
                )
        for name, engine_settings in settings["engines"].items():
            if name in old.get("engines", {}) and old["engines"][name] != engine_settings:
                raise BenchmarkError(
                    f"results folder '{out}' has engine '{name}' runs with settings "
                    f"{old['engines'][name]!r}, not {engine_settings!r}; use another --output-dir"
                )
        merged = {**settings, "engines": {**old.get("engines", {}), **settings["engines"]}}
    else:
        merged = dict(settings)
    write_json_atomic(merged, path, sort_keys=True)


def evaluate(
    data: str | os.PathLike,
    out: str | os.PathLike,
    engines: Sequence[Engine[Any]],
    extractor: Extractor,
    extractor_name: str,
    guide_points: int = 0,
    seeds: Sequence[int] = (0,),
    scorers: Scorers = Scorers(),
    scorer_names: Mapping[str, str] | None = None,
    max_new_runs: int | None = None,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Run the protocol (module docstring) over the benchmark folder ``data`` into ``out``.

    Finished runs already in ``out/runs.csv`` are kept and not repeated; ``max_new_runs`` stops
    after that many new runs (the rest is done by the next call). Pairs that cannot be loaded,
    and runs whose engine rejects the input (a ``ValueError``), are reported in problems.csv and
    the log; the rest is evaluated. Returns (all run rows, all problems).

    Args:
        engines: built engines (:func:`manganinja.colorize.engine_for`), each run through the
            library's one road: the reference prepared once per pair, direction and engine
            (:func:`manganinja.colorize.prepare`), then each run colorized by
            :meth:`~manganinja.colorize.PreparedEngine.colorize` with ``with_seed(seed)``.
        extractor: line-art extractor, RGB PIL -> :class:`~manganinja.lines.Lines`;
            ``extractor_name`` records which (a resume must use the same).
        guide_points: K; each run is done with 0 points and, if K > 0, with K points.
        scorer_names: what the CLIP / DINO / LPIPS scorers are (e.g. their model folders).
    """
    data, out = Path(data), Path(out)
    manifest = read_manifest(data)
    out.mkdir(parents=True, exist_ok=True)
    conditions = sorted({0, int(guide_points)})
    if guide_points < 0:
        raise BenchmarkError(f"--guide-points must be >= 0, got {guide_points}")
    names = dict(scorer_names or {})
    metric_models = {m: (names.get(m, "given") if getattr(scorers, m) else "absent") for m in ("clip", "dino", "lpips")}
    settings = {
        "data": str(data.resolve()),
        "extractor": extractor_name,
        "metrics": metric_models,
        "engines": {e.name: e.describe() for e in engines},
        "guide_points": conditions,
        "seeds": [int(s) for s in seeds],
    }
    _check_settings(out, settings)

    handler = logging.FileHandler(out / "evaluate.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    try:
        return _evaluate(data, out, manifest["pairs"], engines, extractor, conditions, seeds,
                         scorers, max_new_runs, progress)
    finally:
        LOG.removeHandler(handler)
        handler.close()


def _evaluate(
    data: Path, out: Path, pair_names: Sequence[str], engines: Sequence[Engine[Any]],
    extractor: Extractor, conditions: Sequence[int], seeds: Sequence[int], scorers: Scorers,
    max_new_runs: int | None, progress: bool,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    runs_path, problems_path = out / "runs.csv", out / "problems.csv"
    rows = read_runs(runs_path)
    done = {run_key(r): r for r in rows}
    problems = {(p["pair"], p["direction"], p["engine"], p["n_guide_points"], p["seed"], p["stage"]): p
                for p in read_problems(problems_path)}
    LOG.info("evaluate %s: %d pairs, %d runs already done", data, len(pair_names), len(done))

    def problem(pair: str, stage: str, message: str, key: tuple | None = None) -> None:
        direction, engine, k, seed = ("", "", "", "") if key is None else tuple(str(v) for v in key[1:])
        row = {"pair": pair, "direction": direction, "engine": engine, "n_guide_points": k,
               "seed": seed, "stage": stage, "message": message}
        problems[(pair, direction, engine, k, seed, stage)] = row
        LOG.warning("pair %s: %s: %s", pair, stage, message)
        write_csv(problems.values(), PROBLEM_COLUMNS, problems_path)

    new_runs = 0
    iterator: Iterable[str] = pair_names
    if progress:
        from tqdm import tqdm

        iterator = tqdm(pair_names, desc="pairs", unit="pair")
    for name in iterator:
        wanted = [(name, d, e.name, k, int(s)) for d in DIRECTIONS for e in engines
                  for k in conditions for s in seeds]
        if all(key in done for key in wanted):
            continue
        try:
            pair = load_pair(data, name)
        except PairError as exc:
            problem(name, "load", str(exc))
            continue
        if problems.pop((name, "", "", "", "", "load"), None) is not None:
            write_csv(problems.values(), PROBLEM_COLUMNS, problems_path)  # fixed since last time
        for direction in DIRECTIONS:
            reference, target, mask, points = pair.direction(direction)
            todo = [key for key in wanted if key[1] == direction and key not in done]
            if not todo:
                continue
            try:
                lines = extractor(target)
            except ValueError as exc:
                problem(name, "lineart", str(exc), (name, direction, "", "", ""))
                continue
            if lines.size != target.size:
                raise BenchmarkError(
                    f"the line-art extractor returned a {lines.size[0]}x{lines.size[1]} line art for a "
                    f"{target.size[0]}x{target.size[1]} image"
                )
            target_arr = np.asarray(target)
            prepared: dict[str, PreparedEngine] = {}
            for key in todo:
                if max_new_runs is not None and new_runs >= max_new_runs:
                    LOG.info("stopped after %d new runs (max_new_runs)", new_runs)
                    return _finish(rows, problems)
                _, _, engine_name, k, seed = key
                engine = next(e for e in engines if e.name == engine_name)
                n_points = 0 if points is None else len(points)
                guide_idx, scored_idx = split_points(n_points, max(conditions), name, seed)
                guide = None
                if k > 0 and points is not None and len(guide_idx):
                    guide = PointPairs([points[int(i)] for i in guide_idx])
                scored_xy = (points.lineart_xy[scored_idx] if points is not None
                             else np.zeros((0, 2)))
                start = time.perf_counter()
                try:
                    if engine_name not in prepared:
                        prepared[engine_name] = prepare(engine, [reference])
                    result = prepared[engine_name].with_seed(seed).colorize(lines, guide).composite
                except ValueError as exc:
                    problem(name, "engine", f"{engine_name}: {exc}", key)
                    continue
                seconds = time.perf_counter() - start
                if result.shape != target_arr.shape:
                    problem(name, "engine", f"{engine_name}: result shape {result.shape} is not "
                            f"the target's {target_arr.shape}", key)
                    continue
                rel = _result_name(key)
                save_image(result, out / rel)
                if k == conditions[0]:
                    save_image(lines.to_image(),
                               out / f"images/lineart/{name}_{direction.replace('->', 'to')}.png")
                row: dict[str, Any] = dict(zip(KEY_COLUMNS, key))
                row.update(n_guide_used=0 if guide is None else len(guide), n_scored=len(scored_xy),
                           seconds=seconds, result=rel)
                row.update(score(result, target_arr, mask, scored_xy, scorers))
                rows.append(row)
                done[key] = row
                new_runs += 1
                write_csv(rows, RUN_COLUMNS, runs_path)
    LOG.info("done: %d new runs, %d rows, %d problems", new_runs, len(rows), len(problems))
    return _finish(rows, problems)


def _finish(rows: list[dict[str, Any]], problems: Mapping[Any, dict[str, str]]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    ordered = sorted(rows, key=run_key)
    return ordered, list(problems.values())


# ---------------------------------------------------------------------------------------------
# Synthetic benchmark
# ---------------------------------------------------------------------------------------------
def write_synthetic_benchmark(out: str | os.PathLike, pairs: int, seed: int = 0, size: int = 256,
                              overwrite: bool = False) -> Path:
    """Write a benchmark folder of ``pairs`` synthetic pairs (:mod:`manganinja.data.synthetic`).

    Pair ``i`` (folder ``pair_{i:05d}``) is ``generate_pair(default_rng([seed, i]), size)``:
    ``a`` = its reference frame, ``b`` = its target frame, their character masks, and its exact
    point pairs (``reference`` in a, ``lineart`` in b). Built in a temporary sibling folder and
    moved into place, so an error leaves nothing at ``out``. An existing non-empty ``out`` is
    refused unless ``overwrite`` and it is a benchmark folder (has a manifest of this format).

    Raises:
        BenchmarkError: bad output folder; SyntheticDataError (a ValueError): bad size or seed.
    """
    import shutil
    import tempfile

    from manganinja.data.synthetic import (GENERATOR_NAME, GENERATOR_VERSION, check_dataset_args,
                                           generate_pair, pair_dir_name)

    out = Path(out)
    if out.is_dir() and any(out.iterdir()):
        try:
            is_benchmark = read_manifest(out).get("format") == FORMAT_NAME
        except BenchmarkError:
            is_benchmark = False
        if not (overwrite and is_benchmark):
            raise BenchmarkError(
                f"output folder '{out}' is not empty"
                + ("; pass --overwrite to replace it" if is_benchmark else " and is no benchmark folder")
            )
    check_dataset_args(out.parent / f".{out.name}.check", pairs, size, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        names = []
        for i in range(int(pairs)):
            pair = generate_pair(np.random.default_rng([int(seed), i]), size=size)
            name = pair_dir_name(i)
            write_pair(tmp, name, pair.reference, pair.target, pair.reference_mask,
                       pair.target_mask, pair.points)
            names.append(name)
        write_manifest(tmp, names, generator=GENERATOR_NAME, generator_version=GENERATOR_VERSION,
                       seed=int(seed), size=int(size), rng="numpy.random.default_rng([seed, pair_index])")
        os.chmod(tmp, 0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
