"""The trained tiny synthetic MangaNinja (models/tiny-synthetic, docs/reproduce.md) on synthetic
pairs it never saw (generator seed 1, drawn at 256 px like its training pairs; it was trained on
seed 0): does it beat the mean-color baseline, does its own reference beat another character's,
and do guide points lower the point MSE? Trained weights, not random ones; 8 sampling steps. The
answers as measured are in docs/reproduce.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from manganinja.engines import NinjaEngine, build_engine
from manganinja.evaluation import benchmark as B
from manganinja.lines import Lines
from manganinja.points import PointPairs
from manganinja.settings import LoadSettings, NinjaSettings

MODEL = Path(__file__).resolve().parents[2] / "models" / "tiny-synthetic"
PAIRS = 5
STEPS = 8


@pytest.fixture(scope="module")
def heldout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 5 held-out pairs (seed 1, drawn at 256 px) every test here scores."""
    return B.write_synthetic_benchmark(tmp_path_factory.mktemp("heldout") / "bench", pairs=PAIRS, seed=1, size=256)


@pytest.fixture(scope="module")
def as_colorize_paints() -> NinjaEngine:
    """The model with colorize's defaults (snapped, the guides filling their regions), 8 steps."""
    import torch

    torch.set_num_threads(1)
    engine = build_engine("ninja", ninja=NinjaSettings(steps=STEPS, progress=False), load=LoadSettings(model=str(MODEL), device="cpu"))
    assert isinstance(engine, NinjaEngine)
    assert engine.settings.snap and engine.settings.guide_fill  # the defaults a user gets
    return engine


@pytest.fixture(scope="module")
def runs(heldout: Path) -> dict[str, list[dict]]:
    """Scores of the model (0 and 5 guide points) and of mean-color on 5 held-out pairs, a->b,
    scored on the pair's points outside the 5 guides; and of the model with 0 and 20 guide points,
    scored on the points outside the 20 guides."""
    import torch

    torch.set_num_threads(1)
    data = heldout
    # raw model output; resolution and guidance scales: the model's recommended ones (model_index.json)
    ninja = build_engine("ninja", ninja=NinjaSettings(steps=STEPS, snap=False, progress=False),
                         load=LoadSettings(model=str(MODEL), device="cpu"))
    mean_color = build_engine("mean-color")
    out: dict[str, list[dict]] = {"ninja0": [], "ninja5": [], "mean": [], "ninja0_of20": [], "ninja20": []}
    for name in B.read_manifest(data)["pairs"]:
        reference, target, mask, points = B.load_pair(data, name).direction("a->b")
        lines = Lines.from_picture(target, "xdog")
        encoded, mean_prepared = ninja.prepare([reference]), mean_color.prepare([reference])
        guide_idx, scored_idx = B.split_points(len(points), 5, name, 0)
        guide = PointPairs([points[int(i)] for i in guide_idx])
        scored = points.lineart_xy[scored_idx]
        target_arr = np.asarray(target)
        out["ninja0"].append(B.score(ninja.colorize(encoded, lines).composite, target_arr, mask, scored))
        out["ninja5"].append(B.score(ninja.colorize(encoded, lines, guide).composite, target_arr, mask, scored))
        out["mean"].append(B.score(mean_color.colorize(mean_prepared, lines).composite, target_arr, mask, scored))
        guide_idx, scored_idx = B.split_points(len(points), 20, name, 0)
        guide = PointPairs([points[int(i)] for i in guide_idx])
        scored = points.lineart_xy[scored_idx]
        out["ninja0_of20"].append(B.score(ninja.colorize(encoded, lines).composite, target_arr, mask, scored))
        out["ninja20"].append(B.score(ninja.colorize(encoded, lines, guide).composite, target_arr, mask, scored))
    return out


def _mean(rows: list[dict], metric: str) -> float:
    return float(np.mean([r[metric] for r in rows]))


def test_model_folder_is_small_and_records_its_settings():
    files = [p for p in MODEL.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 25 * 2**20
    assert all(p.suffix != ".bin" for p in files) and any(p.suffix == ".safetensors" for p in files)
    rec = json.loads((MODEL / "model_index.json").read_text())["recommended"]
    assert rec["resolution"] == 64 and rec["steps"] >= 1


def test_beats_mean_color_psnr(runs):
    # measured (fourteenth attempt's model): 19.72 vs 17.96 dB on these 5 pairs; the eleventh's: 19.74;
    # the third attempt's: 18.49;
    # the first two attempts' models did not (15.60 vs 17.44 dB, a strict xfail then)
    assert _mean(runs["ninja0"], "psnr") > _mean(runs["mean"], "psnr")


def test_five_guide_points_lower_point_mse(runs):
    # measured (fourteenth attempt's model, color hints): 0.0379 -> 0.0355 on these 5 pairs (the
    # eleventh attempt's: 0.0461 -> 0.0460; the third attempt's: 0.0630 -> 0.0626); see
    # docs/reproduce.md for the 16-pair benchmark's point control.
    assert _mean(runs["ninja5"], "point_mse") < _mean(runs["ninja0"], "point_mse")


def test_own_reference_lowers_the_loss_below_another_characters(tmp_path):
    """Issue 19: the model uses its reference. On 5 held-out pairs (seed 1) and 4 noise draws each,
    the training objective with the pair's own reference is lower than with another character's
    (the next pair's), by more than the paired difference's 95 % half-width (the reference-use
    probe, :mod:`manganinja.training.reference_use`; models that ignore their reference, like the
    third attempt's, give +0.0004 +- 0.0005)."""
    import torch

    from manganinja.data.synthetic import write_dataset
    from manganinja.training.reference_use import measure_reference_use, probe_config
    from manganinja.training.trainer import Trainer

    torch.set_num_threads(1)
    data = tmp_path / "heldout"
    write_dataset(data, PAIRS, size=256, seed=1)
    use = measure_reference_use(Trainer(probe_config(str(MODEL), [str(data)], batch_size=PAIRS)), batches=4)
    gain, half = use.other_minus_own
    assert gain - half > 0, f"another's reference - own: {gain:+.4f} +- {half:.4f}"


def test_twenty_guide_points_lower_the_point_mse_by_a_clear_margin(runs):
    # issue 19: "20 points lower the point MSE by a clear margin", here at least 5 %, on these 5
    # pairs, scored on the points outside the 20 guides. Measured (fourteenth attempt's model, color
    # hints): 0.0400 -> 0.0359 (0.90x); the eleventh attempt's model, no hints: 0.0489 -> 0.0489.
    assert _mean(runs["ninja20"], "point_mse") <= 0.95 * _mean(runs["ninja0_of20"], "point_mse")


@pytest.mark.xfail(strict=True, reason="with line art, 20 guides with color hints bring the held-out point MSE to 0.88x, "
                                       "not 0.7x (docs/reproduce.md, fourteenth attempt: 0.0412 -> 0.0363 over 16 pairs; "
                                       "with every point the hints cover at the autoencoder's floor it would be 0.755x: "
                                       "benchmarks/tiny_hint_coverage.py, fifteenth attempt; the whole account: "
                                       "docs/reproduce.md, 'Why the guide bar is not met')")
def test_twenty_guide_points_cut_the_point_mse_to_0_7x(runs):
    # the bar (issue 19), on these 5 pairs, scored on the points outside the 20 guides;
    # measured (fourteenth attempt's model): 0.0400 -> 0.0359 (0.90x; the eleventh's: 0.0489 -> 0.0489)
    assert _mean(runs["ninja20"], "point_mse") <= 0.7 * _mean(runs["ninja0_of20"], "point_mse")


def test_as_colorize_paints_it_twenty_guides_lower_the_point_mse_further(heldout, as_colorize_paints):
    """Snapped to the line art's regions with the guides filling theirs (``manganinja
    colorize``'s defaults), 20 guides lower the point MSE outside them by more than they do
    without filling: 0.85x of none at most, better in 4 of the 5 pairs, a->b.

    Measured here: none 0.0532, 20 guides 0.0388 (0.73x); without filling 0.0499 (0.94x, 3 of 5
    better). Over the benchmark's 16 pairs of seed 1 at 10 steps (docs/reproduce.md,
    twenty-fourth attempt): 0.0535 -> 0.0406 (0.758x, 16/16) filled, 0.0500 (0.935x) not."""
    model = as_colorize_paints
    errors: dict[str, list[float]] = {"none": [], "guides": []}
    for name in B.read_manifest(heldout)["pairs"]:
        reference, target, mask, points = B.load_pair(heldout, name).direction("a->b")
        lines = Lines.from_picture(target, "xdog")
        guide_idx, scored_idx = B.split_points(len(points), 20, name, 0)
        guide = PointPairs([points[int(i)] for i in guide_idx])
        encoded = model.prepare([reference])
        for key, pts in (("none", None), ("guides", guide)):
            picture = model.colorize(encoded, lines, pts).composite
            errors[key].append(B.score(picture, np.asarray(target), mask, points.lineart_xy[scored_idx])["point_mse"])
    assert np.mean(errors["guides"]) <= 0.85 * np.mean(errors["none"])
    assert sum(g < n for g, n in zip(errors["guides"], errors["none"])) >= 4


def test_point_path_alone_paints_the_reference_colors_at_the_guide_points(heldout):
    """Issue 19 item 3: with no line art (a dropped line-art condition) and 20 guide points, the
    colors at the guide target points move towards those of their reference points: the squared
    error there falls to at most 0.7x of the error without points, on 5 held-out pairs.

    Measured (docs/reproduce.md, fourteenth attempt): the shipped model gives 0.1311 -> 0.0753 here
    (0.57x), 0.65x over the benchmark's 16 pairs, at its recommended point scale (3, chosen on the
    validation pairs); the eleventh attempt's model gave 0.1520 -> 0.0877 (0.58x) and 0.64x. The model shipped until the tenth attempt (point scale 1) gave 0.75x here and
    0.73x over 16 (a strict xfail then); at point scale 3 it gives 0.68x over 16."""
    import torch

    from manganinja.pipeline import MangaNinjaPipeline

    torch.set_num_threads(1)
    pipe = MangaNinjaPipeline.from_pretrained(MODEL)
    errors = {"none": [], "guides": []}
    for name in B.read_manifest(heldout)["pairs"]:
        reference, target, _, points = B.load_pair(heldout, name).direction("a->b")
        guide_idx, _ = B.split_points(len(points), 20, name, 0)
        guide = PointPairs([points[int(i)] for i in guide_idx])
        ref = np.asarray(reference.convert("RGB"), np.float64) / 255.0
        wanted = ref[guide.reference_xy[:, 1].astype(int), guide.reference_xy[:, 0].astype(int)]
        blank = Lines(np.zeros((target.size[1], target.size[0]), np.float32))
        for key, pts in (("none", None), ("guides", guide)):
            out = pipe(reference=reference, lineart=blank, points=pts, generator=torch.Generator().manual_seed(0),
                       num_inference_steps=STEPS, output_type="np", progress=False).images[0]
            got = np.asarray(out, np.float64)[guide.lineart_xy[:, 1].astype(int), guide.lineart_xy[:, 0].astype(int)] / 255.0
            errors[key].append(float(((got - wanted) ** 2).mean()))
    assert np.mean(errors["guides"]) <= 0.7 * np.mean(errors["none"])


def test_as_colorize_paints_it_the_model_beats_the_flat_engine(heldout, as_colorize_paints):
    """Snapped to the line art's regions (``manganinja colorize``'s default), the model's picture
    beats the weight-free flat engine's on these 5 held-out pairs, whole-frame PSNR, a->b.

    Measured (docs/reproduce.md, twenty-second attempt): snapped 20.80 dB against the flat
    engine's 19.50, better in 5 of 5 (+0.24 to +4.21 dB); the raw picture 19.72. Over the
    benchmark: +1.62 ± 0.50 dB on seed 5's 39 hard runs, +1.10 ± 0.26 over its 128 runs."""
    flat = build_engine("flat")
    psnr: dict[str, list[float]] = {"model": [], "flat": []}
    for name in B.read_manifest(heldout)["pairs"]:
        reference, target, mask, _ = B.load_pair(heldout, name).direction("a->b")
        lines = Lines.from_picture(target, "xdog")
        for key, engine in (("model", as_colorize_paints), ("flat", flat)):
            picture = engine.colorize(engine.prepare([reference]), lines).composite
            psnr[key].append(B.score(picture, np.asarray(target), mask, np.zeros((0, 2)))["psnr"])
    diff = np.asarray(psnr["model"]) - np.asarray(psnr["flat"])
    assert diff.mean() > 0.5 and (diff > 0).sum() >= 4
