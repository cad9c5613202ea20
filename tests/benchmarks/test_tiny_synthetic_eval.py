"""benchmarks/tiny_synthetic_eval.py: the swapped copies, the point-error decomposition, the
request checks (which runs count as hard: tests/evaluation/test_hard_runs.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _scripts import exit_code, load_script


def load():
    return load_script("tiny_synthetic_eval")


def test_swapped_copies_replace_only_the_reference_of_their_direction(tmp_path):
    """--part swapped: in the direction the copy is used for, the reference is another pair's and
    the target (hence line art and score) is the pair's own."""
    from manganinja.evaluation import benchmark as B

    ev = load()
    data = B.write_synthetic_benchmark(tmp_path / "bench", pairs=3, seed=1, size=64)
    names = B.read_manifest(data)["pairs"]
    for side, direction in ev.SWAPPED_DIRECTIONS.items():
        copy = ev.write_swapped(data, tmp_path / f"swapped_{side}", side)
        for i, name in enumerate(names):
            own = B.load_pair(data, name).direction(direction)
            other = B.load_pair(data, names[(i + 1) % len(names)]).direction(direction)
            swapped = B.load_pair(copy, name).direction(direction)
            assert np.array_equal(np.asarray(swapped[1]), np.asarray(own[1]))      # same target
            assert np.array_equal(np.asarray(swapped[0]), np.asarray(other[0]))    # another's reference
            assert not np.array_equal(np.asarray(swapped[0]), np.asarray(own[0]))


def test_part_palette_keeps_each_parts_most_frequent_flat_colors():
    ev = load()
    flat = np.zeros((4, 4, 3), np.uint8)
    parts = np.zeros((4, 4), np.uint8)
    parts[0, :] = 1
    flat[0, :] = (255, 0, 0)
    flat[0, 3] = (128, 0, 0)          # part 1's shadow
    parts[1, :] = 255                 # the prop: not a part
    parts[2, :] = 2
    flat[2, :] = (0, 0, 255)
    palette = ev.part_palette(flat, parts)
    assert sorted(palette) == [1, 2]
    assert np.allclose(palette[1], [[1, 0, 0], [128 / 255, 0, 0]])
    assert np.allclose(palette[2], [[0, 0, 1]])


def test_a_color_is_a_wrong_part_only_when_another_parts_color_is_strictly_nearer():
    ev = load()
    palette = {1: np.array([[1.0, 0, 0], [0.5, 0, 0]]), 2: np.array([[0, 0, 1.0]]), 3: np.array([[1.0, 0, 0]])}
    assert not ev.wrong_part(np.array([0.55, 0, 0]), 1, palette)      # its shadow color
    assert ev.wrong_part(np.array([0.1, 0, 0.8]), 1, palette)          # nearer part 2's
    assert not ev.wrong_part(np.array([1.0, 0, 0]), 3, palette)        # parts 1 and 3 share a color
    assert not ev.wrong_part(np.array([0.2, 0.2, 0.2]), 2, {2: palette[2]})  # no other part


def test_point_error_rows_and_table_on_a_drawn_pair():
    """The decomposition on a generated pair: the target itself scores 0 and never paints a wrong
    part; a picture with one part recolored to another part's color is a wrong part exactly on
    that part's points, and the bound that fixes wrong colors brings it to the floor there."""
    from manganinja.data.synthetic import generate_pair

    ev = load()
    pair = generate_pair(np.random.default_rng([1, 0]), size=128)
    xy, parts = pair.points.lineart_xy, pair.point_parts
    exact = ev.point_error_rows("p", pair.target, pair.target, pair.target, pair.target, pair.target_flat,
                                pair.target_parts, xy, parts, set())
    assert all(r["mse_model"] == 0.0 and r["wrong_model"] == 0 for r in exact)

    part, other = int(parts[0]), next(int(p) for p in parts if int(p) != int(parts[0]))
    painted = pair.target.copy()
    palette = ev.part_palette(pair.target_flat, pair.target_parts)
    painted[pair.target_parts == part] = np.round(palette[other][0] * 255).astype(np.uint8)
    blurred = pair.target.copy()
    blurred[pair.target_parts == other] = 0  # the resizing's floor, far off on the guided part only
    rows = ev.point_error_rows("p", pair.target, painted, pair.target, blurred, pair.target_flat, pair.target_parts,
                               xy, parts, {other})
    on_part = np.array([int(p) == part for p in parts])
    assert np.array_equal(np.array([r["wrong_model"] for r in rows], bool), on_part)
    assert all(r["guided"] == int(int(p) == other) for r, p in zip(rows, parts))
    table = "\n".join(ev.point_error_table(rows))
    model_mse = np.mean([r["mse_model"] for r in rows])
    assert f"| model, no guides | {model_mse:.4f}" in table
    assert "| bound: every wrong part color fixed (those points at the floor) | 0.0000" in table
    # the perfect-autoencoder bound takes the resizing's floor on guided parts, the model elsewhere
    by_resize = np.mean([r["mse_resize"] if r["guided"] else r["mse_model"] for r in rows])
    assert by_resize > 0 and f"(a perfect autoencoder) | {by_resize:.4f}" in table
    assert f"{on_part.mean():.1%}" in table


@pytest.mark.parametrize("case, message", [
    ("no data", "--data {tmp}/nothing is not a benchmark folder (no manifest.json); make one with manganinja benchmark synth"),
    ("no model", "--model {tmp}/nothing is not a pipeline folder (no model_index.json)"),
    ("out in model", "--out '{tmp}/model/eval' is inside the --model folder '{tmp}/model'; give a path outside it"),
    ("out is data", "--out '{tmp}/bench' is the benchmark folder '{tmp}/bench'; give a path outside it"),
    ("no stage1", "--stage1 {tmp}/nothing is not a pipeline folder (no model_index.json)"),
    ("snap off main", "--snap is for --part main (got --part hard); run main with it into its own --out"),
    ("wrong seed", "--seed 5 is not the seed of --data {tmp}/bench (1, its manifest); drop --seed or give the benchmark drawn with it"),
])
def test_a_bad_request_is_one_line_before_any_model_is_loaded(tmp_path, monkeypatch, capsys, case, message):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "manifest.json").write_text('{"pairs": [], "seed": 1}')
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model_index.json").write_text("{}")  # not loadable: the refusal must come first
    args = {"--part": "main", "--data": tmp_path / "bench", "--model": tmp_path / "model", "--out": tmp_path / "eval"}
    args |= {"no data": {"--data": tmp_path / "nothing"}, "no model": {"--model": tmp_path / "nothing"},
             "out in model": {"--out": tmp_path / "model" / "eval"}, "out is data": {"--out": tmp_path / "bench"},
             "no stage1": {"--part": "ablation-stage1", "--stage1": tmp_path / "nothing"},
             "snap off main": {"--part": "hard"}, "wrong seed": {"--part": "hard", "--seed": 5}}[case]
    argv = [str(x) for kv in args.items() for x in kv] + (["--snap"] if case == "snap off main" else [])
    monkeypatch.setattr("sys.argv", ["tiny_synthetic_eval.py", *argv])
    assert exit_code(lambda _: load().main(), []) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: " + message.format(tmp=tmp_path)) and "\n" not in err
    assert not (tmp_path / "eval").exists() and sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model_index.json"]


def test_the_tables_include_the_hard_runs_of_a_synthetic_benchmark(tmp_path, monkeypatch):
    """--part table: with main's runs on a synthetic benchmark, the hard-run table is in tables.md,
    its groups split as manganinja.evaluation.hard_runs splits them."""
    from manganinja.evaluation import benchmark as B
    from manganinja.evaluation import hard_runs as H

    from _scripts import SHIPPED_MODEL

    data = B.write_synthetic_benchmark(tmp_path / "bench", pairs=4, seed=1, size=64)
    shares = H.synthetic_missing_shares(data)
    rows = [{"pair": pair, "direction": direction, "engine": engine, "n_guide_points": 0, "seed": 0, "n_guide_used": 0,
             "n_scored": 0, "psnr": 20.0 if engine == "ninja" else 18.0}
            for (pair, direction) in shares for engine in ("flat", "ninja")]
    B.write_csv(rows, B.RUN_COLUMNS, tmp_path / "eval" / "main" / "runs.csv")
    monkeypatch.setattr("sys.argv", ["tiny_synthetic_eval.py", "--part", "table", "--data", str(data),
                                     "--out", str(tmp_path / "eval"), "--model", str(SHIPPED_MODEL)])
    assert exit_code(lambda _: load().main(), []) == 0
    tables = (tmp_path / "eval" / "tables.md").read_text()
    hard = sum(v > H.HARD_THRESHOLD for v in shares.values())
    assert "## The hard runs (part hard)" in tables
    assert f"| hard | {hard} | " in tables and f"| +2.00 ± 0.00 | {hard} / {hard} |" in tables
    assert f"| all | {len(shares)} | " in tables
