"""What a painter should look at after a shot was colored: the regions colored on weak evidence,
each frame's confidence and background share, and the frames most worth a look.

A painted frame (:class:`manganinja.flat.propagate.PaintedFrame`) has a certainty per region (how
decisive its vote was: the winning color's share of the evidence, in [0, 1]). A character region
colored from votes (or from its nearest neighbour) with a certainty under ``weak`` is *weak*. Per
frame (:func:`frame_review`):

- ``confidence``: the character's area-weighted mean region certainty (1 for a keyframe);
- ``weak_share``: the share of the character's area in weak regions;
- ``background_share``: the share of the frame's non-line pixels that are background.

Along the cut (:func:`flag_background_jumps`), a frame whose background share differs from both
its neighbours' by more than ``jump`` (in the same direction) is flagged: the background is an
invariant of the cut, it changes smoothly. :func:`worth_a_look` ranks frames for review: flagged
frames first, then lowest confidence first.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from manganinja.flat.propagate import ORIGIN_NEAREST, ORIGIN_VOTE, PaintedFrame

#: A character region colored on evidence below this is weak (shown in the review mask).
WEAK_CONFIDENCE = 0.5
#: A background share that moves by more than this against both neighbours is flagged.
BACKGROUND_JUMP = 0.15
#: A frame is listed for a look when flagged, or its confidence is under this, or more than
#: ``LOOK_WEAK_SHARE`` of its character is weak (chosen on synthetic shots of seed 1).
LOOK_CONFIDENCE = 0.5
LOOK_WEAK_SHARE = 0.3


def weak_regions(painted: PaintedFrame, weak: float = WEAK_CONFIDENCE) -> np.ndarray:
    """bool ``(count + 1,)``: character regions colored from votes or a neighbour with a
    certainty under ``weak`` (keyframe copies, points and transparency are never weak)."""
    voted = (painted.origin == ORIGIN_VOTE) | (painted.origin == ORIGIN_NEAREST)
    out = voted & (painted.index > 0) & (_certainty(painted) < weak)
    out[0] = False
    return out


def _certainty(painted: PaintedFrame) -> np.ndarray:
    return painted.certainty if painted.certainty is not None else painted.confidence


def review_mask(painted: PaintedFrame, weak: float = WEAK_CONFIDENCE) -> np.ndarray:
    """uint8 ``(H, W)``: 255 on the pixels of weak regions (lines included: each line pixel
    belongs to its nearest region), 0 elsewhere: what ``NAME_review.png`` holds."""
    return np.where(weak_regions(painted, weak)[painted.filled], 255, 0).astype(np.uint8)


@dataclass(frozen=True)
class FrameReview:
    """One frame's figures (module docstring); ``flags``: why it is worth a look."""

    stem: str
    confidence: float
    weak_share: float
    background_share: float
    flags: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["flags"] = list(self.flags)
        return out


def frame_review(painted: PaintedFrame, stem: str, weak: float = WEAK_CONFIDENCE) -> FrameReview:
    """:class:`FrameReview` of one painted frame (no flags yet)."""
    areas = painted.regions.areas().astype(np.float64)
    areas[0] = 0.0
    char = painted.index > 0
    char[0] = False
    char_area = float(areas[char].sum())
    paper = float(areas.sum())
    if char_area > 0:
        confidence = float((areas[char] * np.clip(_certainty(painted)[char], 0, 1)).sum() / char_area)
        weak_share = float(areas[weak_regions(painted, weak)].sum() / char_area)
    else:
        confidence, weak_share = 1.0, 0.0
    bg = ~char
    bg[0] = False
    background = float(areas[bg].sum() / paper) if paper > 0 else 1.0
    return FrameReview(stem, round(confidence, 4), round(weak_share, 4), round(background, 4))


def flag_background_jumps(reviews: list[FrameReview], jump: float = BACKGROUND_JUMP) -> list[FrameReview]:
    """``reviews`` (in frame order) with a flag on each frame whose background share differs from
    both neighbours' by more than ``jump`` in the same direction (an end frame: from its one
    neighbour, and the frame after that agrees with the neighbour)."""
    out = list(reviews)
    b = [r.background_share for r in reviews]
    for i, r in enumerate(reviews):
        near = [b[j] for j in (i - 1, i + 1) if 0 <= j < len(b)]
        if not near:
            continue
        d = [b[i] - x for x in near]
        if len(near) == 1:
            j = 1 if i == 0 else len(b) - 2
            k = j + (j - i)
            if not (0 <= k < len(b)) or abs(b[j] - b[k]) > jump:
                continue
        if all(x > jump for x in d) or all(x < -jump for x in d):
            ref = float(np.mean(near))
            out[i] = replace(r, flags=r.flags + (f"background share {r.background_share:.2f} against "
                                                   f"{ref:.2f} around it",))
    return out


def needs_look(r: FrameReview, confidence: float = LOOK_CONFIDENCE, weak_share: float = LOOK_WEAK_SHARE) -> bool:
    """True when a frame should be looked at: flagged, unsure, or with much weak area."""
    return bool(r.flags) or r.confidence < confidence or r.weak_share > weak_share


def worth_a_look(reviews: list[FrameReview], n: int = 5, keyframes: tuple[str, ...] = (),
                 only_needed: bool = False) -> list[FrameReview]:
    """The ``n`` frames most worth a painter's look: flagged frames first, then lowest
    confidence first (keyframes left out; with ``only_needed``, only frames :func:`needs_look`
    selects)."""
    cand = [r for r in reviews if r.stem not in keyframes and (needs_look(r) or not only_needed)]
    cand.sort(key=lambda r: (not r.flags, r.confidence, -r.weak_share))
    return cand[:n]


def write_reviews(reviews: list[FrameReview], path: Path, jump: float = BACKGROUND_JUMP) -> list[FrameReview]:
    """Flag background jumps over ``reviews`` (frame order) and write them to ``path`` (JSON, with
    the frames :func:`needs_look` selects, ranked by :func:`worth_a_look`, under
    ``"worth_a_look"``); returns the flagged reviews."""
    from manganinja.images import write_json_atomic

    flagged = flag_background_jumps([replace(r, flags=()) for r in reviews], jump)
    doc = {"frames": [r.to_json() for r in flagged],
           "worth_a_look": [r.stem for r in worth_a_look(flagged, n=len(flagged), only_needed=True)]}
    write_json_atomic(doc, path)
    return flagged


def read_reviews(path: Path) -> list[FrameReview]:
    """The reviews :func:`write_reviews` wrote (an empty list when there is no readable file)."""
    try:
        doc = json.loads(Path(path).read_text())
        return [FrameReview(str(r["stem"]), float(r["confidence"]), float(r["weak_share"]),
                            float(r["background_share"]), tuple(r.get("flags", ()))) for r in doc["frames"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def describe(r: FrameReview) -> str:
    """One line about a frame for the painter: its confidence, weak share and flags."""
    text = f"{r.stem} (confidence {r.confidence:.2f}, weak {100 * r.weak_share:.0f}% of the character"
    return text + "".join(f"; {f}" for f in r.flags) + ")"


def flag_precision(listed: list[str], wrong: list[str]) -> tuple[float | None, float | None]:
    """(precision, recall) of the frames ``listed`` for a look against the frames actually
    ``wrong``; None where undefined (nothing listed, nothing wrong)."""
    hit = len(set(listed) & set(wrong))
    precision = hit / len(set(listed)) if listed else None
    recall = hit / len(set(wrong)) if wrong else None
    return precision, recall


#: A scored frame is *wrong* (for the flags' precision) when its character pixel accuracy
#: (``pix_acc_fg``) is under this or its pixel accuracy with the background (``pix_acc``) under
#: ``WRONG_PIX_ACC``.
WRONG_PIX_ACC_FG = 0.9
WRONG_PIX_ACC = 0.95


def wrong_frames(rows: list[dict[str, object]]) -> list[str]:
    """Stems of the evaluated frames (rows of :func:`manganinja.evaluation.paint_bucket.evaluate_shot`,
    with ``stem``, ``pix_acc_fg`` and ``pix_acc``) that are wrong (see :data:`WRONG_PIX_ACC_FG`)."""
    return [str(r["stem"]) for r in rows
            if float(r["pix_acc_fg"]) < WRONG_PIX_ACC_FG or float(r["pix_acc"]) < WRONG_PIX_ACC]


def flags_report(results: Path, rows: list[dict[str, object]]) -> str | None:
    """One line: how well the frames listed for a look in ``results``'s review file match the
    frames that are wrong among ``rows``; None without a review file."""
    path = Path(results) / "review.json"
    if not path.is_file():
        return None
    try:
        listed = [str(s) for s in json.loads(path.read_text())["worth_a_look"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    scored = {str(r["stem"]) for r in rows}
    listed = [s for s in listed if s in scored]
    wrong = wrong_frames(rows)
    precision, recall = flag_precision(listed, wrong)
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    return (f"review flags: {len(listed)} frame(s) listed for a look, {len(wrong)} wrong (character pixel "
            f"accuracy < {WRONG_PIX_ACC_FG} or pixel accuracy < {WRONG_PIX_ACC}); precision {fmt(precision)}, "
            f"recall {fmt(recall)}")
