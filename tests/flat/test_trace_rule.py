"""The trace rule of propagation (manganinja.flat.propagate): regions across a color-trace line
are told apart as the keyframes tell them apart (a highlight and its shadow crescent)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from manganinja.flat.propagate import (
    ORIGIN_TRACE,
    PaintedFrame,
    Palette,
    apply_trace_rule,
    paint_from_colors,
    regions_of,
    trace_pairs,
    trace_partners,
)
from manganinja.lines import Lines
from manganinja.settings import FlatShotSettings
from manganinja.shots.engines import FlatShotEngine, Reference
from manganinja.shots.format import LineFrame

HI, LO = (240, 120, 40), (150, 75, 25)


def _blob(size: int = 160, shift: int = 14) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An effect blob: float32 line art ``(H, W)`` (1 = line: a black outline and a red trace
    line), the red line's mask and the RGBA colors (highlight, a shadow crescent on the left
    side, transparent around)."""
    c, r = (size // 2, size // 2), size // 4
    disk = np.zeros((size, size), np.uint8)
    cv2.circle(disk, c, r, 1, -1)
    lit = np.zeros((size, size), np.uint8)
    cv2.circle(lit, (c[0] + shift, c[1]), r, 1, -1)
    black = np.zeros((size, size), np.uint8)
    cv2.circle(black, c, r, 1, 2)
    red = np.zeros((size, size), np.uint8)
    cv2.circle(red, (c[0] + shift, c[1]), r, 1, 1)
    red = (red > 0) & (disk > 0) & (black == 0)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[disk > 0] = (*HI, 255)
    rgba[(disk > 0) & (lit == 0)] = (*LO, 255)
    lines = ((black > 0) | red).astype(np.float32)
    return lines, red, rgba


def _frame(lines: np.ndarray, red: np.ndarray) -> LineFrame:
    h, w = lines.shape
    return LineFrame(Lines(lines), red, np.zeros((h, w), bool), np.zeros((h, w, 3), np.uint8))


def test_trace_pairs_are_the_regions_across_a_colored_line_only() -> None:
    lines, red, _ = _blob()
    regions = regions_of(lines)
    pairs = {tuple(int(v) for v in p) for p in trace_pairs(regions, red)}
    crescent = regions.label_at((160 // 2 - 160 // 4 + 6, 80))
    highlight = regions.label_at((90, 80))
    assert tuple(sorted((crescent, highlight))) in pairs
    # (the others: pockets of a few pixels where the red line meets the outline, closed off by
    # the gap closing). The outer background touches the outline, never the red line.
    assert all(regions.label_at((2, 2)) not in p for p in pairs)
    # A colored line drawn along a black line does not pair the regions across the black line.
    size = 120
    lines2 = np.zeros((size, size), np.float32)
    lines2[:, 58:62] = 1.0  # black line between two halves
    along = np.zeros((size, size), bool)
    along[10:110, 57] = True  # a colored line along it, on the left side only
    lines2[along] = 1.0
    assert len(trace_pairs(regions_of(lines2), along)) == 0


def test_trace_partners_learn_the_keyframes_color_across_trace_lines() -> None:
    lines, red, rgba = _blob()
    palette = Palette()
    key = paint_from_colors(lines, rgba, palette, "k", colored=red)
    partner = trace_partners([key], len(palette), 0.8)
    hi, lo = (int(i) for i in palette.lookup(np.array([HI, LO], np.uint8)))
    assert partner[hi] == lo and partner[lo] == hi
    # A keyframe painting both sides one color teaches no partner.
    flat = rgba.copy()
    flat[flat[..., 3] > 0, :3] = HI
    same = paint_from_colors(lines, flat, palette, "k2", colored=red)
    assert not trace_partners([same], len(palette), 0.8).any()
    # Both keyframes: half of the highlight's pairs have the shadow across, all of the shadow's.
    mixed = trace_partners([key, same], len(palette), 0.4)
    assert mixed[hi] == lo and mixed[lo] == hi
    strict = trace_partners([key, same], len(palette), 0.6)
    assert strict[hi] == 0 and strict[lo] == hi


def test_apply_trace_rule_repaints_the_smaller_side_with_more_partner_evidence() -> None:
    traces = np.array([[1, 2]])
    partner = np.array([0, 2, 1])
    areas = np.array([0, 1000, 50])
    evidence = np.zeros((3, 3))
    evidence[2, 2] = 0.2  # the small region got some of the partner's votes
    index = np.array([0, 1, 1])
    assert apply_trace_rule(index, evidence, areas, traces, partner, 0.0).tolist() == [2]
    assert index.tolist() == [0, 1, 2]
    # The larger side never changes, even with more evidence; no flip without more evidence.
    index = np.array([0, 1, 1])
    evidence2 = np.zeros((3, 3))
    evidence2[1, 2] = 0.5
    assert len(apply_trace_rule(index, evidence2, areas, traces, partner, 0.0)) == 0
    assert index.tolist() == [0, 1, 1]
    assert len(apply_trace_rule(index, evidence, areas, traces, partner, 0.3)) == 0


def _crescent_run(settings: FlatShotSettings, unshaded_key: bool = False) -> tuple[PaintedFrame, int, int]:
    """The next frame colored from the keyframe (weight 0.25) and a previous result that painted
    the crescent as highlight at full confidence (weight 1): the chain outvotes the keyframe.
    ``unshaded_key``: a second keyframe paints the blob in one color (half of the keyframes'
    pairs across the trace line are then one color)."""
    lines, red, rgba = _blob()
    palette = Palette()
    key = paint_from_colors(lines, rgba, palette, "k", colored=red)
    wrong = rgba.copy()
    wrong[wrong[..., 3] > 0, :3] = HI
    prev = paint_from_colors(lines, wrong, palette, "p")
    engine = FlatShotEngine(palette, settings)
    refs = [Reference(key, "keyframe", "0000"), Reference(prev, "previous", "0001")]
    if unshaded_key:
        refs.append(Reference(paint_from_colors(lines, wrong, palette, "k2", colored=red), "keyframe", "0002"))
    out = engine.colorize(engine.prepare(refs), _frame(lines, red))
    crescent = out.regions.label_at((160 // 2 - 160 // 4 + 6, 80))
    hi, lo = (int(i) for i in palette.lookup(np.array([HI, LO], np.uint8)))
    return out, crescent, lo


def test_a_crescent_the_chain_painted_as_highlight_takes_its_shadow_back() -> None:
    out, crescent, lo = _crescent_run(FlatShotSettings())
    assert out.index[crescent] == lo and out.origin[crescent] == ORIGIN_TRACE


@pytest.mark.parametrize("change", [{"trace_rule": False}, {"trace_margin": 0.5}])
def test_trace_settings_reach_the_rule(change: dict[str, object]) -> None:
    """Without the rule, or with a margin over the crescent's shadow evidence, the chain's color
    stays."""
    out, crescent, lo = _crescent_run(FlatShotSettings(**change))
    assert out.index[crescent] != lo


def test_trace_share_decides_whether_mixed_keyframes_teach_a_partner() -> None:
    out, crescent, lo = _crescent_run(FlatShotSettings(trace_share=0.4), unshaded_key=True)
    assert out.index[crescent] == lo
    out, crescent, lo = _crescent_run(FlatShotSettings(trace_share=0.6), unshaded_key=True)
    assert out.index[crescent] != lo


def test_an_effect_shot_from_its_small_puff_keeps_its_shadow_crescents(tmp_path) -> None:
    """End to end (``colorize_shot``, scored by ``evaluate_shot``): an effect shot whose keyframe
    is the small-puff end, where the crescents are a few pixels wide. Without the trace rule the
    chain loses them (0.92 mean character pixel accuracy, 0.76 at worst); with it they stay
    (0.97 mean, 0.92 at worst)."""
    from manganinja.data.synthetic_shots import ShotOptions, write_shots
    from manganinja.evaluation.paint_bucket import evaluate_shot
    from manganinja.shots.format import read_shot
    from manganinja.shots.run import colorize_shot

    write_shots(tmp_path / "set", 1, ShotOptions(size=192, frames=16, family="effects", keyframe_end="first"), seed=7)
    root = tmp_path / "set" / "shot_00000"
    scores = {}
    for on in (True, False):
        out = tmp_path / f"out_{on}"
        colorize_shot(read_shot(root), FlatShotEngine.factory(FlatShotSettings(trace_rule=on)), out, progress=False)
        acc = [float(r["pix_acc_fg"]) for r in evaluate_shot(root, out).rows]
        scores[on] = (float(np.mean(acc)), min(acc))
    assert scores[True][0] >= 0.95 and scores[True][1] >= 0.9
    assert scores[True][0] >= scores[False][0] + 0.03
