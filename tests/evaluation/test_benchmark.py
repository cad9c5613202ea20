"""The benchmark protocol on tiny pairs drawn with OpenCV."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from manganinja.evaluation import benchmark as B
from manganinja.engines import build_engine
from manganinja.flat.layers import Layers, line_layer
from manganinja.evaluation.report import summary_table, write_report
from manganinja.lines import Lines
from manganinja.points import PointPairs

from _drawn_pairs import SIZE, draw_character, make_benchmark  # noqa: E402


def xdog(image: Image.Image) -> Lines:
    return Lines.from_picture(image, "xdog")


class FnEngine:
    """A test engine of the one contract around ``fn(reference, lines_array, points[, seed])``."""

    fills_regions = False

    def __init__(self, name, fn, seeded=False, seed=0):
        self.name, self.fn, self.seeded, self.seed = name, fn, seeded, seed

    def prepare(self, references):
        return references[0]

    def colorize(self, prepared, lines, points=None):
        extra = {"seed": self.seed} if self.seeded else {}
        picture = self.fn(prepared, lines.array, points, **extra)
        return Layers(composite=picture, color=picture, lines=line_layer(lines.array))

    def with_seed(self, seed):
        return FnEngine(self.name, self.fn, self.seeded, seed)

    def describe(self):
        return {}


XDOG = "manganinja.lines.extract_lineart(method='xdog')"


def baselines():
    return [build_engine("reference"), build_engine("mean-color")]


def test_split_points_disjoint_and_seeded():
    guide, scored = B.split_points(10, 3, "0001", seed=0)
    assert len(guide) == 3 and len(scored) == 7
    assert not set(guide) & set(scored)
    assert sorted([*guide, *scored]) == list(range(10))
    again = B.split_points(10, 3, "0001", seed=0)
    assert [list(x) for x in again] == [list(guide), list(scored)]
    other = [tuple(B.split_points(10, 3, "0001", seed=s)[0]) for s in range(6)]
    assert len(set(other)) > 1  # the seed matters
    # always leave one point to score; no points -> nothing
    assert [len(x) for x in B.split_points(3, 5, "x", 0)] == [2, 1]
    assert [len(x) for x in B.split_points(0, 5, "x", 0)] == [0, 0]


def test_direction_swaps_points(tmp_path):
    root = make_benchmark(tmp_path / "bench", n=1)
    pair = B.load_pair(root, "0000")
    ref, target, mask, pts = pair.direction("b->a")
    assert ref is pair.b and target is pair.a and mask is pair.a_mask
    np.testing.assert_array_equal(pts.reference_xy, pair.points.lineart_xy)
    np.testing.assert_array_equal(pts.lineart_xy, pair.points.reference_xy)


def test_protocol_both_directions_and_point_split(tmp_path):
    root = make_benchmark(tmp_path / "bench", n=2)
    seen = []

    def spy(reference, lineart, points):
        seen.append((reference.copy(), lineart.shape, points))
        return np.zeros((*lineart.shape, 3), np.uint8)

    rows, problems = B.evaluate(root, tmp_path / "res", [FnEngine("spy", spy)],
                                xdog, XDOG, guide_points=2, seeds=[0])
    assert problems == []
    keys = {B.run_key(r) for r in rows}
    assert keys == {(p, d, "spy", k, 0) for p in ("0000", "0001") for d in B.DIRECTIONS for k in (0, 2)}
    for row in rows:
        assert row["n_scored"] == 2 and row["n_guide_used"] == (2 if row["n_guide_points"] else 0)
        assert row["point_mse"] is not None
    # guided calls get points from the annotations of the right direction, never a scored one
    pair = B.load_pair(root, "0000")
    guide_idx, scored_idx = B.split_points(4, 2, "0000", 0)
    guided = [s for s in seen if s[2] is not None]
    assert len(guided) == 4 and len([s for s in seen if s[2] is None]) == 4
    for direction in B.DIRECTIONS:
        ref, _, _, pts = pair.direction(direction)
        expected = PointPairs([pts[int(i)] for i in guide_idx])
        assert any(s[2] == expected and np.array_equal(np.asarray(s[0]), np.asarray(ref)) for s in guided)
    assert not set(guide_idx) & set(scored_idx)


def test_baselines_and_resume_give_the_same_table(tmp_path):
    root = make_benchmark(tmp_path / "bench", n=3)
    full, _ = B.evaluate(root, tmp_path / "full", baselines(), xdog, XDOG,
                         guide_points=2)
    assert len(full) == 3 * 2 * 2 * 2
    part, _ = B.evaluate(root, tmp_path / "part", baselines(), xdog, XDOG,
                         guide_points=2, max_new_runs=7)
    assert len(part) == 7
    calls = []
    counting = [FnEngine(e.name, lambda r, l, p, e=e: calls.append(1) or e.colorize(e.prepare([r]), Lines(l), p).composite)
                for e in baselines()]
    resumed, _ = B.evaluate(root, tmp_path / "part", counting, xdog, XDOG,
                            guide_points=2)
    assert len(calls) == len(full) - 7  # finished runs are not repeated
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert drop(resumed) == drop(full)
    assert summary_table(resumed) == summary_table(full)
    assert summary_table(B.read_runs(tmp_path / "part" / "runs.csv")) == summary_table(full)
    # the reference baseline ignores points, mean-color too: same scores at k=0 and k=2
    table = summary_table(full)
    assert "| reference | 0 | 6 |" in table and "| mean-color | 2 | 6 |" in table
    ref_psnr = {r["n_guide_points"]: r["psnr"] for r in full if r["engine"] == "reference" and r["pair"] == "0000" and r["direction"] == "a->b"}
    assert ref_psnr[0] == ref_psnr[2]


def test_bad_pairs_are_reported_and_the_rest_evaluated(tmp_path):
    root = make_benchmark(tmp_path / "bench", n=4)
    (root / "0000" / "b.png").unlink()
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(root / "0001" / "a_mask.png")
    data = json.loads((root / "0002" / "points.json").read_text())
    data["pairs"][1]["lineart"] = [500, 3]
    (root / "0002" / "points.json").write_text(json.dumps(data))
    out = tmp_path / "res"
    rows, problems = B.evaluate(root, out, baselines(), xdog, XDOG)
    assert {r["pair"] for r in rows} == {"0003"}
    messages = {p["pair"]: p["message"] for p in problems}
    assert set(messages) == {"0000", "0001", "0002"}
    assert "b.png" in messages["0000"] and "missing" in messages["0000"]
    assert "a_mask.png is 12x10" in messages["0001"]
    assert "(500, 3)" in messages["0002"] and "outside" in messages["0002"]
    log = (out / "evaluate.log").read_text()
    assert all(name in log for name in ("0000", "0001", "0002"))
    assert {p["pair"] for p in B.read_problems(out / "problems.csv")} == {"0000", "0001", "0002"}
    summary = write_report(out, rows, problems, root).read_text()
    assert "a_mask.png is 12x10" in summary
    assert (out / "metrics.png").stat().st_size > 0 and (out / "examples.png").stat().st_size > 0


def test_missing_manifest_and_changed_settings(tmp_path):
    with pytest.raises(B.BenchmarkError, match="manifest.json"):
        B.evaluate(tmp_path, tmp_path / "res", baselines(), xdog, XDOG)
    root = make_benchmark(tmp_path / "bench", n=1)
    B.evaluate(root, tmp_path / "res", baselines(), xdog, XDOG)
    with pytest.raises(B.BenchmarkError, match="extractor"):
        B.evaluate(root, tmp_path / "res", baselines(), xdog, "other")


def test_mean_color_paints_the_silhouette(tmp_path):
    img, mask, _ = draw_character((0, 0), ((200, 30, 30), (200, 30, 30)))
    lineart = xdog(Image.fromarray(img))
    engine = build_engine("mean-color")
    out = engine.colorize(engine.prepare([Image.fromarray(img)]), lineart, None).composite
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8
    inside = (out != 255).any(axis=2)
    assert (inside & mask).sum() / mask.sum() > 0.9  # silhouette ~ the drawn foreground
    near = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert not (inside & ~near).any()  # nothing painted away from the character's outline
    # mean foreground color: every non-white pixel of the reference (fill and black outline)
    expected = np.round(img[(img != 255).any(axis=2)].mean(axis=0))
    assert (out[inside] == expected).all()


def test_each_seed_is_a_run_and_reaches_a_seeded_engine(tmp_path):
    root = make_benchmark(tmp_path / "bench", n=1)
    got = []

    def noisy(reference, lineart, points, seed):
        got.append(seed)
        return np.random.default_rng(seed).integers(0, 256, (*lineart.shape, 3), dtype=np.uint8)

    rows, _ = B.evaluate(root, tmp_path / "res", [FnEngine("noisy", noisy, seeded=True)],
                         xdog, XDOG, seeds=[0, 7])
    assert sorted(got) == [0, 0, 7, 7]
    assert {(r["direction"], r["seed"]) for r in rows} == {(d, s) for d in B.DIRECTIONS for s in (0, 7)}
    by_seed = {r["seed"]: r["psnr"] for r in rows if r["direction"] == "a->b"}
    assert by_seed[0] != by_seed[7]
