"""Forced attention: if the guides' attention were right, would their colors follow?

A diagnostic of a trained tiny model (issue 19, item 3: "find why" points do not steer with line
art). For each held-out synthetic pair (generator ``--seed``, drawn at 256 px, direction a->b)
and 20 guide points (the benchmark's split), the model samples with the line art three times:

- ``none``: no points, the model as a user runs it;
- ``points``: the 20 guides through the model's own point path (its PointNet);
- ``forced beta``: the 20 guides, but the POINT branch of every reader block is the REF branch
  (no point embeddings) with ``beta`` added to the attention logit of every (line-art token,
  reference token) pair that lie in the same guide's region. The regions are those of region
  point maps (:mod:`manganinja.point_regions`: the region of the line art, and of the
  reference's XDoG line art, that holds each guide), read at each block's token grid.

A large ``beta`` puts nearly all of a guided token's bank attention on its guide's reference
region, which is what a point path that worked would do. Printed per run: the point MSE outside
the 20 guides (the benchmark's score, :func:`manganinja.evaluation.benchmark.score`), its ratio
to ``none`` and how many pairs improved, and the same at the 20 guide points themselves against
their reference colors. If ``forced`` does not lower the error either, no point embedding can:
the model paints those tokens from something other than what they attend to in the bank.

``--maps parts`` is the oracle of matching, with no guide at all: every line-art token is pulled
onto its own part of the reference, the generator's part maps (the pairs redrawn from their seed)
read at each token grid; the bias is ``beta`` times the chance that the two tokens' pixels lie on
the same part, and it acts in both branches that read the bank (REF, and POINT, which sampling
runs without embeddings when no points are given). It asks
whether a model whose matching were perfect everywhere, the thing guides would have to bring to
the regions they do not touch, would paint the right colors. Printed beside the raw point MSE:
the same after snapping the picture to the line art's regions (colorize's default, no guides),
and the share of the line-art tokens' attention that lands on their own part of the reference
(the attention weight on each bank token times the chance that the two lie on the same part,
summed, averaged over tokens, heads, blocks and steps; ``--betas 0`` gives the model's own).

``--maps pixel`` marks only the token that holds each guide, on both sides (a one-pixel guide at
64 px falls in one token of each grid). ``--blank`` samples from a blank line art instead (a
dropped line-art condition, where the model's own points do act); its maps are then pixel maps
on the line-art side (a blank line art has one region).

    python benchmarks/tiny_forced_attention.py models/tiny-synthetic --betas 2,5,20 [--maps pixel|parts] [--blank] [--pairs 16]

Run with the package installed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from manganinja.cli import run_script
from manganinja.requests import check_at_least, check_input_folder


def token_map(region_map: np.ndarray, tokens: int) -> np.ndarray:
    """A (S, S) point map at a square token grid of ``tokens`` tokens, flat (tokens,): each token
    takes the largest pair value in its cell (a one-pixel guide marks the token that holds it)."""
    side = int(round(tokens ** 0.5))
    cell = region_map.shape[0] // side
    if side * side != tokens or cell * side != region_map.shape[0] or region_map.shape[0] != region_map.shape[1]:
        raise ValueError(f"a {region_map.shape} map does not fall into {tokens} square tokens")
    return region_map.reshape(side, cell, side, cell).max(axis=(1, 3)).reshape(-1)


def region_bias(target_map: np.ndarray, reference_map: np.ndarray, n_self: int, n_bank: int, beta: float):
    """The additive logit bias (1, 1, n_self, n_self + n_bank): ``beta`` where a line-art token
    and a bank token carry the same guide (nonzero value of the region maps), else 0."""
    import torch

    t = torch.from_numpy(token_map(target_map, n_self))
    r = torch.from_numpy(token_map(reference_map, n_bank))
    same = (t[:, None] == r[None, :]) & (t[:, None] > 0)
    bias = torch.zeros(n_self, n_self + n_bank)
    bias[:, n_self:] = same.float() * beta
    return bias[None, None]


def token_part_shares(parts: np.ndarray, tokens: int, ids: np.ndarray) -> np.ndarray:
    """(tokens, P) float32: for each token of a square grid of ``tokens`` over the part map
    ``parts`` (S, S) int, the share of its pixels on each part of ``ids`` (P,)."""
    side = int(round(tokens ** 0.5))
    cell = parts.shape[0] // side
    if side * side != tokens or cell * side != parts.shape[0] or parts.shape[0] != parts.shape[1]:
        raise ValueError(f"a {parts.shape} map does not fall into {tokens} square tokens")
    onehot = (parts[..., None] == np.asarray(ids)[None, None, :]).astype(np.float32)
    return onehot.reshape(side, cell, side, cell, len(ids)).mean(axis=(1, 3)).reshape(tokens, len(ids))


def parts_bias(target_parts: np.ndarray, reference_parts: np.ndarray, n_self: int, n_bank: int, beta: float):
    """The additive logit bias (1, 1, n_self, n_self + n_bank) of the matching oracle: between a
    line-art token and a bank token, ``beta`` times the chance that a pixel of each lies on the
    same part (both part maps (S, S) int, 0 the background, which is a part here too); 0 on the
    line art's own tokens."""
    import torch

    ids = np.union1d(np.unique(target_parts), np.unique(reference_parts))
    a = torch.from_numpy(token_part_shares(target_parts, n_self, ids))
    b = torch.from_numpy(token_part_shares(reference_parts, n_bank, ids))
    bias = torch.zeros(n_self, n_self + n_bank)
    bias[:, n_self:] = (a @ b.T) * beta
    return bias[None, None]


def forced_processors(pipe, maps: dict) -> None:
    """Replace the denoising U-Net's reader processors by ones whose POINT branch is the REF
    branch plus :func:`region_bias` of ``maps`` (``{"target", "reference", "beta"}``, set per call);
    with ``maps["oracle"]`` both branches that read the bank take :func:`parts_bias` of the part
    maps (sampling without points runs the POINT branch too, without embeddings; at the shipped
    model's scales, 2 and 3, the official formula gives the REF branch a weight of 0)."""
    import torch

    from manganinja.models.reference_attention import Branch, ReferenceReadProcessor, attention, attention_weights

    class Forced(ReferenceReadProcessor):
        def _branch(self, attn, branch, h):
            oracle = maps.get("oracle", False)
            if not maps["forced"] or branch is Branch.UNCOND or (branch is Branch.REF and not oracle):
                return super()._branch(attn, branch, h)
            rows, tokens, channels = h.shape
            bank, _ = self._bank(rows, channels)
            kv = torch.cat([h, bank], dim=1)
            mask = self._key_mask(rows, tokens, bank.shape[1], h.device)
            if oracle:  # the bias, and how much of each token's attention lands on its own part of the reference
                same = parts_bias(maps["target"], maps["reference"], tokens, bank.shape[1], 1.0)
                bias = same * maps["beta"]
                weights = attention_weights(attn, h, kv, mask, logit_bias=bias.to(h.device))
                maps.setdefault("own", []).append(float((weights * same.to(h.device)).sum(-1).mean()))
            else:
                bias = region_bias(maps["target"], maps["reference"], tokens, bank.shape[1], maps["beta"])
            return attention(attn, h, kv, kv, mask, self.state.query_chunk, logit_bias=bias.to(h.device))

    unet = pipe.denoising_unet
    unet.set_attn_processor({k: Forced(p.state, p.name) if isinstance(p, ReferenceReadProcessor) else p
                             for k, p in unet.attn_processors.items()})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("--betas", default="2,5,20", help="logit biases to try, comma-separated (default 2,5,20)")
    p.add_argument("--pairs", type=int, default=16)
    p.add_argument("--seed", type=int, default=1, help="generator seed of the held-out pairs (default 1, the benchmark's)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--maps", choices=("region", "pixel", "parts"), default="region",
                   help="guide areas: the regions that hold the guides (default), or only their own tokens; "
                        "parts: no guides, every token pulled onto its own part (the matching oracle)")
    p.add_argument("--blank", action="store_true",
                   help="sample from a blank line art (a dropped line-art condition) instead; the guide areas are then their own tokens")
    args = p.parse_args(argv)
    try:
        betas = [float(b) for b in args.betas.split(",")]
    except ValueError:
        print(f"error: --betas {args.betas!r}: give numbers separated by commas, e.g. 2,5,20", file=sys.stderr)
        return 2
    check_input_folder(args.model, "", "pipeline")
    check_at_least({"--pairs": args.pairs, "--steps": args.steps}, 1)
    oracle = args.maps == "parts"

    import torch

    from manganinja.data.synthetic_pairs import generate_pair
    from manganinja.evaluation import benchmark as B
    from manganinja.flat.snap import snap_to_regions
    from manganinja.lines import Lines
    from manganinja.pipeline import MangaNinjaPipeline
    from manganinja.point_regions import fill_regions, line_regions, picture_regions
    from manganinja.points import PointPairs, point_map

    torch.set_num_threads(args.threads)
    pipe = MangaNinjaPipeline.from_pretrained(args.model)
    resolution = int(pipe.recommended.get("resolution", 64))
    maps: dict = {}
    forced_processors(pipe, maps)
    maps["oracle"] = oracle
    runs = ["none", *[f"forced {b:g}" for b in betas]] if oracle else ["none", "points", *[f"forced {b:g}" for b in betas]]
    scored_err: dict[str, list[float]] = {r: [] for r in runs}
    snapped_err: dict[str, list[float]] = {r: [] for r in runs}
    own_share: dict[str, list[float]] = {r: [] for r in runs}  # per forced attention call
    guide_err: dict[str, list[float]] = {r: [] for r in runs}
    size = (resolution, resolution)
    with tempfile.TemporaryDirectory() as tmp:
        data = B.write_synthetic_benchmark(Path(tmp) / "bench", pairs=args.pairs, seed=args.seed, size=256)
        for i, name in enumerate(B.read_manifest(data)["pairs"]):
            reference, target, mask, points = B.load_pair(data, name).direction("a->b")
            guide_idx, scored_idx = B.split_points(len(points), 20, name, 0)
            guide = PointPairs([points[int(i)] for i in guide_idx])
            lines = Lines.from_picture(target, "xdog")
            if args.blank:
                lines = Lines(np.zeros_like(lines.array))
            ref_small = np.asarray(reference.convert("RGB").resize(size, 3))  # bicubic, as the pipeline encodes it
            maps["target"] = point_map(guide.lineart_xy, target.size, size)
            maps["reference"] = point_map(guide.reference_xy, reference.size, size)
            if args.maps == "region":
                maps["target"] = fill_regions(maps["target"], line_regions(lines.resized(size)))
                maps["reference"] = fill_regions(maps["reference"], picture_regions(ref_small))
            elif oracle:
                drawn = generate_pair(np.random.default_rng([args.seed, i]), size=256)  # as write_synthetic_benchmark draws it
                if not np.array_equal(drawn.points.lineart_xy, points.lineart_xy):
                    raise RuntimeError(f"{name} is not pair {i} of generator seed {args.seed}")
                maps["target"] = cv2.resize(drawn.target_parts.astype(np.int32), size, interpolation=cv2.INTER_NEAREST)
                maps["reference"] = cv2.resize(drawn.reference_parts.astype(np.int32), size, interpolation=cv2.INTER_NEAREST)
            ref = np.asarray(reference.convert("RGB"), np.float64) / 255.0
            wanted = ref[guide.reference_xy[:, 1].astype(int), guide.reference_xy[:, 0].astype(int)]
            for run in runs:
                forced = run.startswith("forced")
                maps["forced"], maps["beta"] = forced, (float(run.split()[1]) if forced else 0.0)
                maps["own"] = []
                pts = None if run == "none" or oracle else guide
                with torch.no_grad():
                    out = pipe(reference=reference, lineart=lines, points=pts, generator=torch.Generator().manual_seed(0),
                               num_inference_steps=args.steps, output_type="np", progress=False).images[0]
                score = B.score(out, np.asarray(target), mask, points.lineart_xy[scored_idx])
                scored_err[run].append(float(score["point_mse"]))
                if oracle:
                    own_share[run] += maps["own"]
                    if not args.blank:  # a blank line art has one region: nothing to snap to
                        snapped = snap_to_regions(out, lines)
                        snapped_err[run].append(float(B.score(snapped, np.asarray(target), mask, points.lineart_xy[scored_idx])["point_mse"]))
                got = np.asarray(out, np.float64)[guide.lineart_xy[:, 1].astype(int), guide.lineart_xy[:, 0].astype(int)] / 255.0
                guide_err[run].append(float(((got - wanted) ** 2).mean()))
    print(f"# forced attention: {args.model}, {args.pairs} pairs of seed {args.seed} (a->b), "
          f"{'no guides (the matching oracle)' if oracle else '20 guides'}, {args.steps} steps, "
          f"{'blank line art' if args.blank else 'with the line art'}, {args.maps} maps, "
          f"guidance as recommended ({pipe.recommended})")
    if oracle:
        print("| run | attention on the own part | point MSE at the benchmark's scored points | ratio to none | pairs better "
              "| snapped (no guides) | ratio to none | pairs better |")
        print("|---|---|---|---|---|---|---|---|")
        base_s, base_n = np.asarray(scored_err["none"]), np.asarray(snapped_err["none"])
        for run in runs:
            s, n = np.asarray(scored_err[run]), np.asarray(snapped_err[run])
            own = f"{np.mean(own_share[run]):.3f}" if own_share[run] else "-"
            snap = (f"{n.mean():.4f} | {n.mean() / base_n.mean():.3f} | {int((n < base_n).sum())}/{len(n)}"
                    if len(n) else "- | - | -")
            print(f"| {run} | {own} | {s.mean():.4f} | {s.mean() / base_s.mean():.3f} | {int((s < base_s).sum())}/{len(s)} | {snap} |")
        return 0
    print("| run | point MSE outside the guides | ratio to none | pairs better | MSE at the guide points | ratio to none |")
    print("|---|---|---|---|---|---|")
    base_s, base_g = np.asarray(scored_err["none"]), np.asarray(guide_err["none"])
    for run in runs:
        s, g = np.asarray(scored_err[run]), np.asarray(guide_err[run])
        print(f"| {run} | {s.mean():.4f} | {s.mean() / base_s.mean():.3f} | {int((s < base_s).sum())}/{len(s)} | "
              f"{g.mean():.4f} | {g.mean() / base_g.mean():.3f} |")
    return 0


if __name__ == "__main__":
    run_script(main)
