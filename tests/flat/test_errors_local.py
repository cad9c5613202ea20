"""Errors stay local: a wrong color planted in one frame of a propagated shot fades out within a
few frames when the keyframe votes (manganinja.flat.propagate.paint_regions)."""

from __future__ import annotations

import numpy as np

from manganinja.data.synthetic_shots import ShotOptions, generate_shot
from manganinja.flat.propagate import Palette, Source, paint_from_colors, paint_regions
from manganinja.lines import ink_strength
from manganinja.settings import FlatShotSettings


def _chain(shot, palette: Palette, key, plant_at: int, disagree_penalty: float) -> list[np.ndarray]:
    """Propagate frames 1.. from the keyframe (frame 0) and the previous result; at ``plant_at``
    the result's largest character region is repainted with another palette color at full
    confidence. Returns each frame's filled palette-index map."""
    out, prev = [key.filled_index()], key
    for t in range(1, len(shot.lines)):
        lines = ink_strength(shot.lines[t])[0]
        sources = [Source(key, 0.25, "keyframe")]
        if t > 1:
            sources.append(Source(prev, 1.0, "previous", chained=True))
        cur = paint_regions(lines, sources, len(palette), FlatShotSettings(disagree_penalty=disagree_penalty))
        if t == plant_at:
            areas = cur.regions.areas() * (cur.index > 0)
            r = int(np.argmax(areas[1:]) + 1)
            cur.index[r] = 1 + cur.index[r] % (len(palette) - 1)  # another character color
            cur.confidence[r] = 1.0
        out.append(cur.filled_index())
        prev = cur
    return out


def test_an_error_planted_at_one_frame_does_not_reach_frames_a_few_steps_away() -> None:
    shot = generate_shot([1, 3], ShotOptions(size=192, frames=10, max_large_changes=0, occlusion_prob=0.0,
                                             shading_prob=1.0, transparent_prob=1.0))
    palette = Palette()
    key = paint_from_colors(ink_strength(shot.lines[0])[0], shot.gt[0], palette, "0000")
    clean = _chain(shot, palette, key, plant_at=-1, disagree_penalty=1.0)
    planted = _chain(shot, palette, key, plant_at=3, disagree_penalty=1.0)
    differ = [float((a != b).mean()) for a, b in zip(clean, planted)]
    assert differ[3] > 0.01  # the planted error is big (over 1% of the frame)
    assert max(differ[6:]) < 0.002, differ  # three frames later it is gone
    # Without the keyframe overturning a confident chain, the error runs to the end of the cut.
    stuck = _chain(shot, palette, key, plant_at=3, disagree_penalty=0.0)
    assert float((stuck[-1] != clean[-1]).mean()) > 0.005
