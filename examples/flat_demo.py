"""Pictures for the README's weight-free section: snapping, and the flat engine.

Run: ``python examples/flat_demo.py --out docs/images/``
(``--cases`` defaults to ``../shared/data/official_cases`` beside the repository; without it only
the synthetic picture is made.)

Writes (each a side-by-side strip, panels ``--panel`` pixels tall):

* ``flat_snap_official.png``: the official model's 512 px result for ``hz1_lineart_official.png``
  (``hz1_colorized_from_hz0_official.png``, not shown: it is not ours to publish) snapped to the
  line art's regions, then snapped with shading kept.
* ``flat_snap_synthetic.png``: a 1024 px synthetic page: its flat colors, a blurred 256 px
  "model result", and that result snapped back onto the 1024 px line art.
* ``flat_engine_official.png``: the flat engine's result for ``hz1_lineart_official.png`` from
  reference ``hz0.png`` without points, and with the 14 official point pairs (inputs not shown).
* ``flat_engine_synthetic.png``: a synthetic reference, the target's line art, the flat engine's
  result, and the ground truth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from manganinja.data.synthetic import SynthOptions, generate_pair
from manganinja.flat.engine import colorize_flat
from manganinja.flat.snap import snap_to_regions
from manganinja.images import load_image, save_image, to_rgb
from manganinja.lines import normalize_lineart
from manganinja.points import PointPairs

REPO = Path(__file__).resolve().parents[1]


def _panel(img: np.ndarray, height: int) -> np.ndarray:
    if img.ndim == 2:  # line art, 1 = line: show dark lines on white
        img = np.repeat((255 * (1 - np.clip(img, 0, 1)))[..., None], 3, axis=2).astype(np.uint8)
    h, w = img.shape[:2]
    return cv2.resize(img, (round(w * height / h), height), interpolation=cv2.INTER_AREA)


def strip(images: list[np.ndarray], height: int) -> np.ndarray:
    """uint8 RGB: the images side by side, each resized to ``height`` rows, 4 px white gaps."""
    panels = [_panel(im, height) for im in images]
    gap = np.full((height, 4, 3), 255, np.uint8)
    out = [panels[0]]
    for p in panels[1:]:
        out += [gap, p]
    return np.hstack(out)


def rgb_of(path: Path) -> np.ndarray:
    return np.asarray(to_rgb(load_image(path)), dtype=np.uint8)


def official(cases: Path, out: Path, height: int) -> None:
    lines = normalize_lineart(cases / "hz1_lineart_official.png")
    model = rgb_of(cases / "hz1_colorized_from_hz0_official.png")
    snapped = snap_to_regions(model, lines)
    shaded = snap_to_regions(model, lines, keep_shading=True)
    # Only our outputs go into the picture: the inputs are not ours to publish.
    save_image(strip([snapped, shaded], height), out / "flat_snap_official.png")

    reference = rgb_of(cases / "hz0.png")
    points = PointPairs.from_official_maps(cases / "hz01_0.npy", cases / "hz01_1.npy")
    plain = colorize_flat(reference, lines)
    pinned = colorize_flat(reference, lines, points)
    print("official, no points:", plain.diagnostics)
    print("official, 14 points:", pinned.diagnostics)
    save_image(strip([plain.composite, pinned.composite], height),
               out / "flat_engine_official.png")


def synthetic(out: Path, height: int) -> None:
    big = generate_pair(7, options=SynthOptions(size=1024, joint_scale=0.0, flip_prob=0.0))
    lines = big.lineart_soft.astype(np.float32) / 255.0
    small = cv2.resize(big.target, (256, 256), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    snapped = snap_to_regions(small, lines)
    save_image(strip([big.target, small, snapped], height), out / "flat_snap_synthetic.png")

    pair = generate_pair(1, options=SynthOptions(size=512, joint_scale=0.5, flip_prob=0.0, crop_prob=0.0))
    lines = pair.lineart_soft.astype(np.float32) / 255.0
    result = colorize_flat(pair.reference, lines)
    print("synthetic:", result.diagnostics)
    save_image(strip([pair.reference, lines, result.composite, pair.target], height),
               out / "flat_engine_synthetic.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--cases", type=Path, default=REPO.parent / "shared" / "data" / "official_cases")
    parser.add_argument("--panel", type=int, default=320, help="panel height in pixels")
    args = parser.parse_args()
    synthetic(args.out, args.panel)
    if (args.cases / "hz0.png").exists():
        official(args.cases, args.out, args.panel)
    else:
        print(f"{args.cases} not found: official-case pictures skipped")
    for path in sorted(args.out.glob("flat_*.png")):
        print(f"{path}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
