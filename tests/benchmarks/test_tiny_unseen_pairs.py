"""benchmarks/tiny_unseen_pairs.py on the shipped tiny model (2 pairs of an unseen seed, 2 steps):
the runs it scores, its summary, and its one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from manganinja.evaluation import benchmark as B

from _scripts import SHIPPED_MODEL as SHIPPED, exit_code, load_script


def script():
    return load_script("tiny_unseen_pairs")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return B.write_synthetic_benchmark(tmp_path_factory.mktemp("bench") / "b", pairs=2, seed=4, size=256)


def test_scores_every_run_and_swaps_the_reference(data):
    runs = script().score(SHIPPED, data, steps=2, guides=20, scales=None)
    assert len(runs["own"]) == len(runs["other"]) == 4  # 2 pairs, both directions
    assert len(runs["none"]) == len(runs["guided"]) == 2
    assert all(np.isfinite(v).all() for v in runs.values())
    # another character's reference changes the picture, the guides change the point error
    assert not np.allclose(runs["own"], runs["other"])
    assert not np.allclose(runs["none"], runs["guided"])
    lines = script().summary(runs)
    assert lines[0].startswith("own reference ") and "runs" in lines[0]
    assert lines[1].startswith("point MSE outside the guides: ") and "/2 pairs" in lines[1]


def test_the_pictures_without_guides_are_sampled_once_for_both_scores(data, road_calls):
    """The own-reference PSNR and the point MSE without guides (a->b) come from the same pictures:
    10 samplings for 2 pairs (4 own, 4 another's, 2 guided), each score what ``measure`` gives
    for its metric alone."""
    from manganinja.training.reproduce import measure, ninja_engine

    runs = script().score(SHIPPED, data, steps=2, guides=20, scales=None)
    assert sum(step == "colorize" for step, _ in road_calls) == 10
    engine = ninja_engine(SHIPPED, 2)
    assert runs["none"] == measure(engine, data, 0, "point_mse", scored_outside=20)
    assert runs["own"] == [v for d in ("a->b", "b->a") for v in measure(engine, data, 0, "psnr", direction=d)]


def test_snap_scores_the_snapped_pictures(data):
    """--snap paints the model's colors into the line art's regions (colorize's default): other
    pictures, so other scores, for every run."""
    raw = script().score(SHIPPED, data, steps=2, guides=20, scales=None)
    snapped = script().score(SHIPPED, data, steps=2, guides=20, scales=None, snap=True)
    assert {k: len(v) for k, v in snapped.items()} == {k: len(v) for k, v in raw.items()}
    assert all(not np.allclose(raw[k], snapped[k]) for k in ("own", "other"))
    # --no-guide-fill: the guides' regions keep the model's colors; only the guided runs change
    unfilled = script().score(SHIPPED, data, steps=2, guides=20, scales=None, snap=True, unfilled=True)
    assert all(np.allclose(unfilled[k], snapped[k]) for k in ("own", "other", "none"))
    assert not np.allclose(unfilled["guided"], snapped["guided"])


def test_main_prints_the_summary_and_writes_the_runs(tmp_path, capsys):
    out = tmp_path / "runs.json"
    assert script().main([str(SHIPPED), "--pairs", "2", "--steps", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"# {SHIPPED}: 2 pairs of seed 4, 2 steps, 20 guides"
    assert printed[1].startswith("own reference ") and printed[2].startswith("point MSE")
    assert set(json.loads(out.read_text())) == {"own", "other", "none", "guided"}


@pytest.mark.parametrize("shipped, args, message", [
    (True, ["--pairs", "1"], "--pairs 1: another character's reference needs at least 2 pairs"),
    (False, ["--pairs", "2"], "is not a pipeline folder"),
    (True, ["--steps", "0"], "--steps must be >= 1, got 0"),
    (True, ["--guides", "0"], "--guides must be >= 1, got 0"),
    (True, ["--no-guide-fill"], "--no-guide-fill is for the snapped picture: add --snap"),
    (True, ["--json", str(SHIPPED / "model_index.json" / "runs.json")], "is a file, not a folder"),
    (True, ["--json", str(SHIPPED / "model_index.json")], "is inside the model folder"),
])
def test_a_bad_request_is_one_line(tmp_path, capsys, shipped, args, message):
    assert exit_code(script().main, [str(SHIPPED if shipped else tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
