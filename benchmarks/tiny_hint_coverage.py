"""Where the guides' color hints reach, and what a model does with them (docs/reproduce.md,
fourteenth and fifteenth attempts).

For each pair of a benchmark folder (direction a->b) and its 20 guides (the benchmark's split),
every scored point (the points outside the guides) is either **covered** (the hint drawn for the
model, :meth:`~manganinja.pipeline.MangaNinjaPipeline.hint_condition`'s
:func:`~manganinja.point_regions.hint_map` at ``--size``, has its mask there) or **uncovered**.
Also printed: how many scored points lie in a part of the drawing (the generator's parts, the
pairs redrawn from the manifest's seed) that one of the guides lies in: no color drawn from the
guides alone can be right at the others. Per group, as the benchmark's point MSE (3 x 3 patches, colors in [0, 1]) per point:

- ``hint``: the hint's color against the target (covered points only);
- ``spread``: a color for the uncovered points from the guides alone, the idea of spreading the
  hints past the guides' regions: each uncovered region of the line art (labelled at its own
  size, as the hints are) takes the majority color the reference has where a local affine warp
  fitted to the ``--spread-k`` nearest guides sends the region's pixels;
- with ``--model``: the model's output without guides and with the 20 guides (guidance at the
  model's recommended scales), and the floor: the target through the model's autoencoder
  (:meth:`~manganinja.pipeline.MangaNinjaPipeline.autoencode`), below which no sampler can go;
  and the bound: the total point MSE with every covered point at that floor and every uncovered
  point as the model leaves it with guides, against the total without guides.

With ``--snap`` (and ``--model``) the model's pictures are the ones ``manganinja colorize`` gives by
default: snapped to the line art's regions at full size, each guide filling its region. The model's
rows are then grouped by where the fill acts: a scored point in a **guided region** (a region of the
target's line art, labelled as the snap labels it, that holds one of the 20 guides) or in an
**unguided region**. The floors are snapped too (the target through the autoencoder, and the target
itself, snapped without guides and with the guides filling their regions), and the last lines say
what error the unguided regions would need for the 0.7x bar, and what the bar gives for the target
itself.

With ``--attention`` (and ``--model``) it also asks whether the guides change where the scored points
look in the reference: during both samplings (none, 20 guides) every bank-reading attention call of
the denoising U-Net is observed, and for each scored point the share of its token's bank weight
(heads averaged) that lies on the point's own part of the reference (the generator's part map,
area-resized to the bank's token grid) is averaged over calls (steps, blocks), per branch of the
guidance layout (REF, POINT). Printed per group (guided / unguided region, as with ``--snap``): that
share without and with the guides, per branch, and chance (the part's share of the reference's area, the share a uniform attention would give). It is
the correspondence probe's "right part" read inside sampling, as a weight rather than a nearest match.

With ``--parts`` (and ``--model --snap``) it asks whose color each scored point gets: the
reference's parts (the generator's part map) each have a color, their median; a picture's color at
a point (its 3 x 3 patch, as the point MSE cuts it) goes to the part whose color is nearest. The
snapped target's own pick is the right one (it is what the floor paints); the model's picture
either picks the same part, or **another part**, one a guide lies in (a part the guides pin
elsewhere in the line art) or one no guide lies in. Printed per group (guided / unguided region):
how many points fall in each case and their point MSE, for the snapped target, the model without
guides and with them; how many of the points on another part's color without guides the guides
move back to the right part, and how many points on the right part without guides they move off
it. It says whether the error left is a matching error (another part's color) or a color error
(the right part, a paler or darker color), and whether the guides correct matches past their
regions.

    python benchmarks/tiny_hint_coverage.py --data runs/repro/data/bench [--model models/tiny-synthetic [--snap [--parts]] [--attention]]

Run with the package installed, as the README installs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from manganinja.cli import run_script
from manganinja.requests import RequestError, check_at_least, check_input_folder
from manganinja.training.reproduce import GUIDES


def local_affine(src: np.ndarray, dst: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """``query`` (m, 2) points moved by an affine map fitted, per point, to its ``k`` nearest
    ``src`` -> ``dst`` pairs (each (n, 2)), weighted by 1 / (distance + 4 px)^2; a weighted
    shift when fewer than 3 pairs are given. Float (m, 2)."""
    out = np.zeros((len(query), 2))
    for i, p in enumerate(np.asarray(query, np.float64)):
        dist = np.hypot(*(src - p).T)
        near = np.argsort(dist)[:k]
        w = 1.0 / (dist[near] + 4.0) ** 2
        if len(near) < 3:
            out[i] = p + np.average(dst[near] - src[near], axis=0, weights=w)
            continue
        root = np.sqrt(w)[:, None]
        coef, *_ = np.linalg.lstsq(np.c_[src[near], np.ones(len(near))] * root, dst[near] * root, rcond=None)
        out[i] = np.r_[p, 1.0] @ coef
    return out


def majority_color(colors: np.ndarray) -> np.ndarray:
    """The median of the most frequent 32-level bin of uint8 ``colors`` (n, 3); uint8 (3,)."""
    key = (colors // 32).astype(np.int64) @ np.array([64, 8, 1])
    values, counts = np.unique(key, return_counts=True)
    return np.median(colors[key == values[np.argmax(counts)]], axis=0).astype(np.uint8)


def spread_colors(labels: np.ndarray, guide_xy: np.ndarray, reference_xy: np.ndarray, reference: np.ndarray,
                  k: int, samples: int = 48) -> dict[int, np.ndarray]:
    """Per region of ``labels`` (int (H, W), the line art's regions at its size) without a guide
    point (``guide_xy`` (n, 2) in that size): the majority reference color (uint8 (3,)) where the
    local affine warp (:func:`local_affine`) sends up to ``samples`` of its pixels (seeded)."""
    rng = np.random.default_rng(0)
    guided = {int(labels[int(round(y)), int(round(x))]) for x, y in guide_xy}
    out = {}
    height, width = reference.shape[:2]
    for label in np.unique(labels):
        if int(label) in guided:
            continue
        ys, xs = np.nonzero(labels == label)
        pick = rng.choice(len(xs), min(samples, len(xs)), replace=False)
        moved = np.rint(local_affine(guide_xy, reference_xy, np.c_[xs[pick], ys[pick]], k)).astype(np.int64)
        mx, my = np.clip(moved[:, 0], 0, width - 1), np.clip(moved[:, 1], 0, height - 1)
        out[int(label)] = majority_color(reference[my, mx, :3])
    return out


def part_shares(parts: np.ndarray, point_parts: np.ndarray, side: int) -> np.ndarray:
    """For each point's part, the share of each token's pixels on it: ``parts`` (S, S) part ids
    of the reference at its drawn size, ``point_parts`` (K,) the part of each point; returns
    float (K, side * side), row-major tokens of a ``side x side`` grid over the picture (area
    resizing, as the pictures reach the model)."""
    import cv2

    masks = [(parts == p).astype(np.float32) for p in np.asarray(point_parts).reshape(-1)]
    return np.stack([cv2.resize(m, (side, side), interpolation=cv2.INTER_AREA).reshape(-1) for m in masks]) \
        if masks else np.zeros((0, side * side), np.float32)


def mass_on_part(rows: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """The share of each attention row's weight that lies on its point's part: ``rows`` (K, M)
    non-negative bank weights of K points' tokens, ``shares`` (K, M) from :func:`part_shares`;
    returns (K,) in [0, 1]."""
    return (rows * shares).sum(-1) / rows.sum(-1)


def part_colors(reference: np.ndarray, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference's parts and their colors: ``reference`` uint8 (H, W, 3), ``parts`` int
    (H, W) the part id of each pixel; returns the part ids (P,) and each part's median color,
    float (P, 3) in [0, 1]."""
    ids = np.unique(parts)
    return ids, np.stack([np.median(reference[parts == p][:, :3], axis=0) for p in ids]) / 255.0


def patch_colors(image: np.ndarray, xy: np.ndarray, patch: int = 3) -> np.ndarray:
    """The mean color of the ``patch`` x ``patch`` patch at each point, cut as the point MSE cuts
    it (:func:`~manganinja.evaluation.metrics.patch_slices`): ``image`` uint8 (H, W, 3), ``xy``
    (K, 2) pixel positions; returns float (K, 3) in [0, 1]."""
    from manganinja.evaluation.metrics import patch_slices

    out = [image[patch_slices(p, patch)][..., :3].reshape(-1, 3).mean(0) for p in np.asarray(xy, np.float64).reshape(-1, 2)]
    return np.asarray(out, np.float64).reshape(-1, 3) / 255.0


def nearest_part(colors: np.ndarray, ids: np.ndarray, part_rgb: np.ndarray) -> np.ndarray:
    """The part whose color is nearest each of ``colors`` (K, 3) (squared RGB distance; the
    lowest id on a tie): ``ids`` (P,) and ``part_rgb`` (P, 3) from :func:`part_colors`;
    returns (K,) part ids."""
    d = ((np.asarray(colors)[:, None, :] - part_rgb[None]) ** 2).sum(-1)
    return ids[np.argmin(d, axis=1)]


#: The cases of ``--parts``, in the order printed.
PART_CASES = ("same part as the snapped target", "another part, a guide's", "another part, no guide's")


#: The pictures ``--parts`` reads (``--snap``'s): the snapped target, the model without and with guides.
PART_PICTURES = ("snapped target", "none", "guides")


#: The region sizes ``--parts`` sorts the scored points by, in latent cells of the model's grid
#: (one cell: the autoencoder's factor squared, in pixels at ``--size``): upper bounds of the
#: first three bins, the last bin open.
SIZE_BINS = ((0.25, "under 1/4 of a latent cell"), (1.0, "1/4 to 1 cell"), (4.0, "1 to 4 cells"),
             (float("inf"), "4 cells or more"))


def size_bin(area: float, picture: tuple[int, int], side: int, factor: int) -> str:
    """The :data:`SIZE_BINS` label of a region of ``area`` pixels of a ``picture`` (W, H) the
    model sees at ``side`` x ``side`` through an autoencoder of downsampling ``factor``."""
    cells = area * side * side / (picture[0] * picture[1]) / (factor * factor)
    return next(label for bound, label in SIZE_BINS if cells < bound)


def part_case(pick: int, right: int, guided_parts: set[int]) -> str:
    """Which of :data:`PART_CASES` a picture's pick ``pick`` is, against the snapped target's
    ``right``; ``guided_parts``: the parts the guides lie in."""
    if pick == right:
        return PART_CASES[0]
    return PART_CASES[1] if pick in guided_parts else PART_CASES[2]


class PartAttention:
    """An observer for :attr:`~manganinja.models.reference_attention.ReferenceState.observer`:
    at every bank-reading attention call, the bank weight rows (heads averaged, batch averaged)
    of the tokens that hold ``target_xy`` ((K, 2) pixel positions at the model's ``resolution``),
    as the share on each point's part (``parts`` / ``point_parts``, :func:`part_shares`), kept by
    the branch the reader calls it for."""

    def __init__(self, target_xy: np.ndarray, resolution: int, parts: np.ndarray, point_parts: np.ndarray) -> None:
        import torch

        self.target_xy = torch.as_tensor(np.asarray(target_xy, np.float32))[None]
        self.resolution = resolution
        self.parts, self.point_parts = parts, point_parts
        self._shares: dict[int, np.ndarray] = {}
        #: per branch name ("REF", "POINT"), per observed call: (K,) each point's bank weight share on its part
        self.masses: dict[str, list[np.ndarray]] = {}

    def __call__(self, name, branch, attn, query_input, key_input, value_input, key_mask) -> None:
        from manganinja.models.reference_attention import attention_weights
        from manganinja.training.losses import grid_side, tokens_at

        n = query_input.shape[1]
        bank = attention_weights(attn, query_input, key_input, key_mask)[..., n:].mean(1)  # (B, N, M)
        rows = tokens_at(bank, self.target_xy.expand(bank.shape[0], -1, -1), self.resolution).mean(0)  # (K, M)
        side = grid_side(rows.shape[-1])
        if side not in self._shares:
            self._shares[side] = part_shares(self.parts, self.point_parts, side)
        self.masses.setdefault(branch.name, []).append(mass_on_part(rows.detach().double().numpy(), self._shares[side]))


def bar_needs(near_with: float, near_without: float, far_without: float, far: int, bar: float = 0.7) -> tuple[float, float]:
    """The mean point MSE the ``far`` scored points of the unguided regions would need for the
    total with guides to be ``bar`` times the total without, given the sums of the point MSEs of
    the guided regions' points with and without guides (``near_with``, ``near_without``) and of
    the unguided regions' points without guides (``far_without``). Two answers: with the total
    without guides as measured, and with the unguided regions' error the same with and without
    guides (guides that act only in their own regions). Negative: no error there is low enough."""
    total_without = near_without + far_without
    return (bar * total_without - near_with) / far, (bar * near_without - near_with) / ((1.0 - bar) * far)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a benchmark folder (manganinja benchmark synth)")
    parser.add_argument("--model", type=Path, help="a hint model's folder: also its errors, floor and bound")
    parser.add_argument("--size", type=int, default=64, help="the side the hints are drawn at (the model's)")
    parser.add_argument("--spread-k", type=int, default=6, help="guides per local affine fit of the spread")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--snap", action="store_true",
                        help="with --model: its pictures snapped as colorize paints them, grouped by guided regions")
    parser.add_argument("--attention", action="store_true",
                        help="with --model: the scored points' attention on their own part of the reference, none / 20 guides")
    parser.add_argument("--parts", action="store_true",
                        help="with --model --snap: whose part's color each scored point gets, the right one or another")
    args = parser.parse_args(argv)
    from manganinja.evaluation import benchmark as B

    check_at_least({"--size": args.size, "--spread-k": args.spread_k, "--steps": args.steps}, 1)
    check_input_folder(args.data, "--data", "benchmark")
    if args.model is not None:
        check_input_folder(args.model, "--model", "pipeline")
    elif args.snap or args.attention or args.parts:
        flag = "--snap" if args.snap else "--attention" if args.attention else "--parts"
        raise RequestError(f"{flag} needs --model: it reads the model's pictures; give --model MODEL_DIR")
    if args.parts and not args.snap:
        raise RequestError("--parts reads the snapped pictures (the snapped target's pick is the right one); add --snap")

    from manganinja.data.synthetic import generate_pair
    from manganinja.evaluation import metrics as M
    from manganinja.flat.regions import GuideFills, label_regions
    from manganinja.flat.snap import snap_layers
    from manganinja.lines import Lines
    from manganinja.point_regions import hint_map, line_regions, reference_colors
    from manganinja.points import PointPairs, scale_xy

    engine = None
    if args.model is not None:
        from manganinja.colorize import prepare
        from manganinja.training.reproduce import ninja_engine

        engine = ninja_engine(args.model, args.steps, args.size, snap=args.snap)

    rows: dict[str, list[float]] = {}
    covered_all: list[bool] = []
    in_guided_part: list[bool] = []
    in_guided_region: list[bool] = []
    attention: dict[tuple[str, str], list[float]] = {}  # (run, group) -> per point
    picked: dict[tuple[str, str, str], list[float]] = {}  # (picture, group, case) -> point MSEs
    moved: dict[str, list[str]] = {}  # group -> per point: where the guides' pick goes from the pick without them
    sized: dict[tuple[str, str], list[tuple[bool, bool, bool, float]]] = {}  # (group, size) -> per point: off the right part floor / none / guides, error with guides
    manifest = B.read_manifest(args.data)
    for i, name in enumerate(manifest["pairs"]):
        reference, target, _, points = B.load_pair(args.data, name).direction("a->b")
        guide_idx, scored_idx = B.split_points(len(points), GUIDES, name, 0)
        drawn = generate_pair(np.random.default_rng([int(manifest["seed"]), i]), size=int(manifest["size"]))
        if not np.array_equal(drawn.points.lineart_xy, points.lineart_xy):
            print(f"error: {name} is not pair {i} of generator seed {manifest['seed']}; give an unedited benchmark folder", file=sys.stderr)
            return 2
        in_guided_part += np.isin(drawn.point_parts[scored_idx], drawn.point_parts[guide_idx]).tolist()
        ref, tgt = np.asarray(reference)[..., :3], np.asarray(target)[..., :3]
        line = Lines.from_picture(target, "xdog")
        gxy, rxy = points.lineart_xy[guide_idx], points.reference_xy[guide_idx]
        colors = reference_colors(ref, rxy)
        hints = hint_map(line.array, gxy, colors, (args.size, args.size))
        labels = line_regions(line.array)
        spread = spread_colors(labels, gxy.astype(np.float64), rxy.astype(np.float64), ref, args.spread_k)
        size = (tgt.shape[1], tgt.shape[0])
        outputs = {}
        looked: dict[str, np.ndarray] = {}
        if engine is not None:
            guides = PointPairs([points[int(j)] for j in guide_idx])
            for key, given in (("none", None), ("guides", guides)):
                observer = PartAttention(points.lineart_xy[scored_idx] * args.size / np.asarray(size, np.float64),
                                         args.size, drawn.reference_parts, drawn.point_parts[scored_idx]) if args.attention else None
                engine.pipe.reference_state.observer = observer
                try:
                    outputs[key] = prepare(engine, [reference]).colorize(line, given).composite
                finally:
                    engine.pipe.reference_state.observer = None
                if observer is not None:
                    for branch, masses in observer.masses.items():
                        looked[f"{key}, {branch} branch"] = np.mean(masses, axis=0)
            if args.attention:
                areas = np.array([np.mean(drawn.reference_parts == p) for p in drawn.point_parts[scored_idx]])
            outputs["floor"] = np.asarray(engine.pipe.autoencode(target, args.size))
            if args.snap:
                outputs["floor"] = snap_layers(outputs["floor"], line).composite
                outputs["snapped target"] = snap_layers(tgt, line).composite
                outputs["snapped target, guides filling"] = snap_layers(tgt, line, guides=GuideFills(gxy, colors)).composite
        picks: dict[str, np.ndarray] = {}
        if args.parts:
            ids, part_rgb = part_colors(ref, drawn.reference_parts)
            guided_parts = set(drawn.point_parts[guide_idx].tolist())
            for key in (*PART_PICTURES, "floor"):
                picks[key] = nearest_part(patch_colors(np.asarray(outputs[key])[..., :3], points.lineart_xy[scored_idx]),
                                          ids, part_rgb)
        regions = label_regions(line.array) if args.snap else None
        region_areas = regions.areas() if regions is not None else None
        guided_labels = {regions.label_at(tuple(xy)) for xy in gxy} if regions is not None else set()
        for row, j in enumerate(scored_idx):
            xy = points.lineart_xy[int(j)]
            x, y = scale_xy(xy[None], size, (args.size, args.size))[0]
            covered = bool(hints[3, y, x] > 0)
            covered_all.append(covered)
            group = "covered" if covered else "uncovered"
            if regions is not None:
                region = regions.label_at(tuple(xy))
                in_guided_region.append(region in guided_labels)
                group = "guided region" if in_guided_region[-1] else "unguided region"

            def error(image: np.ndarray) -> float:
                return M.point_mse(image, tgt, xy[None])

            if covered:
                rows.setdefault("hint covered", []).append(error(np.broadcast_to(
                    ((hints[:3, y, x] + 1.0) * 127.5).round().astype(np.uint8), tgt.shape).copy()))
            else:
                label = int(labels[int(round(xy[1])), int(round(xy[0]))])
                if label in spread:
                    rows.setdefault("spread uncovered", []).append(error(np.broadcast_to(spread[label], tgt.shape).copy()))
            errors = {key: error(np.asarray(image)[..., :3]) for key, image in outputs.items()}
            for key, value in errors.items():
                rows.setdefault(f"{key} {group}", []).append(value)
            for key, masses in looked.items():
                attention.setdefault((key, group), []).append(float(masses[row]))
            if picks:
                right = int(picks["snapped target"][row])
                for key in PART_PICTURES:
                    case = part_case(int(picks[key][row]), right, guided_parts)
                    picked.setdefault((key, group, case), []).append(errors[key])
                pick = int(picks["guides"][row])
                if int(picks["none"][row]) != right:
                    moved.setdefault(group, []).append(
                        "the right part" if pick == right else "the same part" if pick == int(picks["none"][row]) else "a third part")
                else:
                    moved.setdefault(group, []).append("off the right part" if pick != right else "kept")
                size_label = size_bin(float(region_areas[region]), size, args.size,
                                      engine.pipe.vae_scale_factor)
                sized.setdefault((group, size_label), []).append(
                    (int(picks["floor"][row]) != right, int(picks["none"][row]) != right, pick != right, errors["guides"]))
            if looked:
                attention.setdefault(("chance", group), []).append(float(areas[row]))
    covered_arr = np.array(covered_all)
    part_arr = np.array(in_guided_part)
    print(f"{len(covered_arr)} scored points, {covered_arr.mean():.1%} covered by the {GUIDES} guides' hints at {args.size} px; "
          f"{part_arr.mean():.1%} in a part a guide lies in, {np.mean(part_arr & ~covered_arr):.1%} in such a part but outside the hints")
    print("| what | points | point MSE |\n|---|---|---|")
    for key, values in rows.items():
        print(f"| {key} | {len(values)} | {np.mean(values):.4f} |")
    if "spread uncovered" in rows:
        spread_err = np.array(rows["spread uncovered"])
        print(f"spread: {np.mean(spread_err < 0.005):.1%} of the uncovered points within 0.005")
    if engine is not None:
        near, far = ("guided region", "unguided region") if args.snap else ("covered", "uncovered")
        total = {key: np.concatenate([rows.get(f"{key} {near}", []), rows.get(f"{key} {far}", [])]).mean()
                 for key in ("none", "guides")}
        print(f"total{' (snapped)' if args.snap else ''}: none {total['none']:.4f}, 20 guides {total['guides']:.4f} "
              f"({total['guides'] / total['none']:.3f}x)", end="")
        if not args.snap:
            bound = (np.sum(rows.get("floor covered", [])) + np.sum(rows.get("guides uncovered", []))) / len(covered_arr)
            print(f"; covered points at the floor: {bound:.4f} ({bound / total['none']:.3f}x)")
        else:
            far_with, far_without = rows.get(f"guides {far}", []), rows.get(f"none {far}", [])
            print(f"; {np.mean(in_guided_region):.1%} of the scored points in a guided region")
            if far_with:
                need, reach = bar_needs(np.sum(rows.get(f"guides {near}", [])), np.sum(rows.get(f"none {near}", [])),
                                        np.sum(far_without), len(far_with))
                print(f"0.7x would need the unguided regions at most at {need:.4f} with 20 guides (measured {np.mean(far_with):.4f}, "
                      f"{np.mean(far_without):.4f} without); if the guides left them as they are without guides, at most at "
                      f"{reach:.4f} both ways (the snapped target itself: {np.mean(rows[f'snapped target {far}']):.4f})")
            target = {key: np.mean(rows.get(f"{key} {near}", []) + rows.get(f"{key} {far}", []))
                      for key in ("snapped target", "snapped target, guides filling")}
            print(f"the snapped target itself: none {target['snapped target']:.4f}, 20 guides filling "
                  f"{target['snapped target, guides filling']:.4f} "
                  f"({target['snapped target, guides filling'] / target['snapped target']:.3f}x: no guide lowers an error at the floor)")
    if attention:
        print("attention of the scored points on their own part of the reference (share of the bank weight, "
              "every reader call of both samplings, by branch):")
        runs = sorted({run for run, _ in attention if run != "chance"}, key=lambda r: (not r.startswith("none"), "REF" not in r, r))
        print(f"| where | points | {' | '.join(runs)} | chance (the part's area) |\n|---|---|{'---|' * len(runs)}---|")
        for group in (near, far):
            if ("chance", group) in attention:
                cells = " | ".join(f"{np.mean(attention[(run, group)]):.3f}" for run in runs)
                print(f"| {group} | {len(attention[('chance', group)])} | {cells} | {np.mean(attention[('chance', group)]):.3f} |")
    if picked:
        print("whose part's color the scored points get (the reference part whose median color is nearest the point's 3 x 3 patch; "
              "right: the snapped target's pick); share of the points, point MSE, share of the error:")
        print(f"| where | picture | points | {' | '.join(PART_CASES)} |\n|---|---|---|{'---|' * len(PART_CASES)}")
        for group in (near, far):
            for key in PART_PICTURES:
                cells = [picked.get((key, group, case), []) for case in PART_CASES]
                n, total = sum(len(c) for c in cells), sum(float(np.sum(c)) for c in cells)
                if not n:
                    continue
                text = " | ".join(f"{len(c) / n:.0%}, {np.mean(c):.4f}, {np.sum(c) / total:.0%}" if c else "0%" for c in cells)
                print(f"| {group} | {key} | {n} | {text} |")
            if group in moved:
                counts = {k: moved[group].count(k) for k in ("the right part", "the same part", "a third part")}
                right_before = moved[group].count("kept") + moved[group].count("off the right part")
                print(f"{group}: of the {sum(counts.values())} points on another part's color without guides, with the 20 guides on "
                      + ", ".join(f"{k} {v}" for k, v in counts.items())
                      + f"; of the {right_before} on the right part without guides, {moved[group].count('off the right part')} "
                      "on another part with them")
        print(f"by the size of the point's region in the model's latent grid ({args.size} px, a cell "
              f"{engine.pipe.vae_scale_factor} x {engine.pipe.vae_scale_factor} px there): share of the points on another part's color, "
              "the floor's (the target through the autoencoder, snapped), the model's without and with 20 guides, "
              "and the share of the group's error with 20 guides:")
        print("| where | region size | points | on another part's color: floor | none | 20 guides | share of the error, 20 guides |\n"
              "|---|---|---|---|---|---|---|")
        for group in (near, far):
            group_error = sum(item[-1] for (g, _), items in sized.items() if g == group for item in items)
            for _, label in SIZE_BINS:
                items = sized.get((group, label), [])
                if items:
                    off_floor, off_none, off_guides, err = (np.array(v, float) for v in zip(*items))
                    print(f"| {group} | {label} | {len(items)} | {off_floor.mean():.0%} | {off_none.mean():.0%} | {off_guides.mean():.0%} "
                          f"| {err.sum() / group_error:.0%} |")
        wrong = sum((picked.get(("guides", far, case), []) for case in PART_CASES[1:]), [])
        right = picked.get(("guides", far, PART_CASES[0]), [])
        if wrong and right:
            need, _ = bar_needs(np.sum(rows[f"guides {near}"]), np.sum(rows[f"none {near}"]), np.sum(rows[f"none {far}"]),
                                len(rows[f"guides {far}"]))
            excess = np.sum(rows[f"guides {far}"]) - need * len(rows[f"guides {far}"])
            print(f"0.7x would need {max(0, int(np.ceil(excess / (np.mean(wrong) - np.mean(right))))) } of the {len(wrong)} points of the "
                  f"{far}s on another part's color with 20 guides moved to the right part, at the error of the points there on it "
                  f"({np.mean(right):.4f} against {np.mean(wrong):.4f}), and none moved off it")
    return 0


if __name__ == "__main__":
    run_script(main)
