"""The point path on its own: with no line art (as a dropped line-art condition in training) and
20 guide points, does a trained tiny model paint, at the target points, the colors of their
reference points?

For each held-out synthetic pair (generator ``--seed``, drawn at 256 px, direction a->b), the
model samples from a blank line art with the pair's reference, once without points and once with
20 guide points (the benchmark's guide split), and with the line art too. Printed: the mean
squared RGB error (in [0, 1]) at the 20 guide target points between the output and the color the
reference has at their reference points (which equals the target's color there), for each run;
the paired difference (20 points - none) with its 95 % interval and how many pairs improved; and
the floor: the same error for the target itself through the model's autoencoder at its resolution
(:meth:`~manganinja.pipeline.MangaNinjaPipeline.autoencode`), below which no sampler can go.

    python benchmarks/tiny_point_path.py models/tiny-synthetic [--pairs 16] [--steps 10]
    python benchmarks/tiny_point_path.py models/tiny-synthetic --reach   # the embeddings only
    python benchmarks/tiny_point_path.py models/tiny-synthetic --attention   # the guides through sampling

``--reach`` looks inside instead: for the first pair, the 20 pairs' PointNet embeddings at the
target and reference point tokens of every scale: their norm (next to the norm of the hidden
states they are added to, the ``norm1`` outputs), the cosine of pair ``i``'s target and reference
embeddings against that of different pairs, and how often the most similar reference embedding
is the pair's own (chance: 1/20). Attention can only single out a pair's reference token through
the point embedding if the embeddings of different pairs differ.

``--attention`` follows the guides through sampling instead, on the pairs with the line art: per
token grid, the weight the guide target tokens put on their reference point's token and how often
it is their largest bank weight, for the REF branch (no point embeddings) and the POINT branch,
over all steps and blocks; and the MSE at the guide points when sampling from the REF branch alone
(``paper`` guidance, point scale 0) or the POINT branch alone (``paper``, scales 1 / 1). It says
whether the points move the attention, and whether attention that moves brings the colors.

Run with the package installed, as the README installs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from manganinja.cli import run_script
from manganinja.images import write_json_atomic
from manganinja.requests import check_at_least, check_input_folder, check_report_path


def point_colors(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] of ``image`` (H, W, 3) uint8 at the integer points ``xy`` (N, 2) = (x, y)."""
    xy = np.asarray(xy, dtype=np.int64)
    return np.asarray(image, np.float64)[xy[:, 1], xy[:, 0], :3] / 255.0


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and 95 % half-width (normal approximation) of ``values``."""
    arr = np.asarray(values, np.float64)
    half = 1.96 * arr.std(ddof=1) / np.sqrt(len(arr)) if len(arr) > 1 else float("nan")
    return float(arr.mean()), float(half)


def embedding_reach(pipe, seed: int, n: int) -> list[str]:
    """Markdown rows of the ``--reach`` table (module docstring) for pair 0 of ``seed``."""
    import torch
    import torch.nn.functional as F

    from manganinja.data.synthetic import generate_pair
    from manganinja.points import point_map

    pair = generate_pair(np.random.default_rng([seed, 0]), size=256)
    size = int(pipe.recommended.get("resolution", 64)) if hasattr(pipe, "recommended") else 64
    rxy, txy = pair.points.reference_xy[:n], pair.points.lineart_xy[:n]
    maps = [point_map(xy, (256, 256), (size, size)) for xy in (rxy, txy)]
    with torch.no_grad():
        e_ref, e_tar = (pipe.point_net(torch.from_numpy(m)[None, None]) for m in maps)
        norms: dict[int, list[float]] = {}
        hooks = [m.register_forward_hook(lambda _m, _i, o: norms.setdefault(o.shape[1], []).append(float(o[0].norm(dim=1).mean())))
                 for name, m in pipe.denoising_unet.named_modules() if name.endswith("transformer_blocks.0.norm1")]
        lat = torch.randn(1, pipe.denoising_unet.config.in_channels, size // pipe.vae_scale_factor, size // pipe.vae_scale_factor,
                          generator=torch.Generator().manual_seed(0))
        pipe.denoising_unet(lat, torch.tensor([500]), encoder_hidden_states=pipe.condition_tokens(1))
        for h in hooks:
            h.remove()
    rows = []
    for a, b in zip(e_ref, e_tar):
        side = int(round(a.shape[1] ** 0.5))
        cell = size // side

        def tokens(xy: np.ndarray) -> list[int]:
            xy = np.asarray(xy, np.float64) * size / 256.0
            return [(int(y) // cell) * side + int(x) // cell for x, y in xy]

        ra, tb = a[0, tokens(rxy)], b[0, tokens(txy)]
        cos = F.normalize(tb, dim=1) @ F.normalize(ra, dim=1).T
        k = len(cos)
        same, other = float(cos.diag().mean()), float((cos.sum() - cos.diag().sum()) / (k * k - k))
        top1 = float((cos.argmax(1) == torch.arange(k)).float().mean())
        h = np.mean(norms.get(side * side, [float("nan")]))
        rows.append(f"| {side}x{side} ({a.shape[2]} ch) | {float(tb.norm(dim=1).mean()):.1f} | {h:.1f} | {same:.3f} | {other:.3f} | {top1:.2f} |")
    return rows


def guide_attention(pipe, data: Path, names: list[str], n_points: int, steps: int) -> tuple[dict[tuple[int, str], list[tuple[float, float]]], dict[str, list[float]]]:
    """The ``--attention`` measurements (module docstring) on the benchmark pairs ``names`` of ``data``.

    Returns ``stats[(side, branch)]``: per observed call of a bank-reading block on a
    ``side x side`` token grid, for ``branch`` "REF" or "POINT", the guides' mean weight on their
    reference point's token, the share whose largest bank weight it is, and their mean weight on
    their own target token (which carries the same point embedding as the reference token in the
    POINT branch's keys); and
    ``errors["REF"|"POINT"]``: per pair, the MSE at the guide points of sampling from that branch
    alone (``paper`` guidance at point scale 0, or 1 / 1)."""
    import torch

    from manganinja.evaluation import benchmark as B
    from manganinja.lines import Lines
    from manganinja.models.reference_attention import attention_weights
    from manganinja.points import PointPairs
    from manganinja.training.losses import weights_at_correspondences

    size = int(pipe.recommended.get("resolution", 64))
    stats: dict[tuple[int, str], list[tuple[float, float]]] = {}
    guide_xy: dict[str, torch.Tensor] = {}

    def observe(name, branch, attn, query_input, key_input, value_input, key_mask) -> None:
        n = query_input.shape[1]
        weights = attention_weights(attn, query_input, key_input, key_mask)
        probs, right, side = weights_at_correspondences(weights[..., n:], guide_xy["target"], guide_xy["reference"], size)
        picked = probs.gather(2, right[..., None])[..., 0]
        top1 = (probs.argmax(-1) == right).float()
        own_probs, own, _ = weights_at_correspondences(weights[..., :n], guide_xy["target"], guide_xy["target"], size)
        itself = own_probs.gather(2, own[..., None])[..., 0]
        stats.setdefault((side, branch.name), []).append((float(picked.mean()), float(top1.mean()), float(itself.mean())))

    errors: dict[str, list[float]] = {"REF": [], "POINT": []}
    try:
        for name in names:
            reference, target, _, points = B.load_pair(data, name).direction("a->b")
            guide_idx, _ = B.split_points(len(points), n_points, name, 0)
            guide = PointPairs([points[int(i)] for i in guide_idx])
            guide_xy["reference"] = torch.tensor(guide.reference_xy * size / np.asarray(reference.size, np.float64), dtype=torch.float32)[None]
            guide_xy["target"] = torch.tensor(guide.lineart_xy * size / np.asarray(target.size, np.float64), dtype=torch.float32)[None]
            wanted = point_colors(np.asarray(reference.convert("RGB")), guide.reference_xy)
            lines = Lines.from_picture(target, "xdog")
            for branch, scale_point in (("REF", 0.0), ("POINT", 1.0)):
                pipe.reference_state.observer = observe if branch == "POINT" else None
                out = pipe(reference=reference, lineart=lines, points=guide, generator=torch.Generator().manual_seed(0),
                           num_inference_steps=steps, guidance="paper", guidance_scale_ref=1.0, guidance_scale_point=scale_point,
                           output_type="np", progress=False).images[0]
                errors[branch].append(float(((point_colors(out, guide.lineart_xy) - wanted) ** 2).mean()))
    finally:
        pipe.reference_state.observer = None
    return stats, errors


def attention_markdown(stats: dict[tuple[int, str], list[tuple[float, float]]], errors: dict[str, list[float]]) -> list[str]:
    """The two tables of the ``--attention`` report from :func:`guide_attention`'s results."""
    out = ["| tokens | branch | weight on the reference point's token | its largest bank weight | weight on the guide's own token |",
           "|---|---|---|---|---|"]
    for (side, branch), values in sorted(stats.items(), key=lambda kv: (-kv[0][0], kv[0][1] != "REF")):
        w, top, itself = np.asarray(values).mean(0)
        out.append(f"| {side}x{side} | {branch} | {w:.4f} (uniform: {1 / side ** 2:.4f}) | {top:.3f} | {itself:.4f} |")
    out += ["", "| sampled from | MSE at the guide points |", "|---|---|"]
    out += [f"| {branch} branch alone | {np.mean(v):.4f} |" for branch, v in errors.items()]
    diff = [p - r for r, p in zip(errors["REF"], errors["POINT"])]
    m, h = interval(diff)
    out.append(f"| POINT - REF (paired) | {m:+.4f} ± {h:.4f}, {sum(d < 0 for d in diff)} / {len(diff)} lower |")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a MangaNinja pipeline folder, e.g. models/tiny-synthetic")
    p.add_argument("--pairs", type=int, default=16)
    p.add_argument("--seed", type=int, default=1, help="generator seed of the held-out pairs (default 1)")
    p.add_argument("--points", type=int, default=20)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--guidance-point", type=float, default=None, help="point guidance scale (default: the model's)")
    p.add_argument("--json", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reach", action="store_true", help="only the point embeddings' table (module docstring)")
    p.add_argument("--attention", action="store_true", help="only the guides' attention report (module docstring)")
    args = p.parse_args(argv)
    check_input_folder(Path(args.model), "", "pipeline")
    check_at_least({"--pairs": args.pairs, "--points": args.points, "--steps": args.steps, "--threads": args.threads}, 1)
    if args.json is not None:
        check_report_path(Path(args.json), "--json", [("model folder", Path(args.model))])

    import tempfile

    import torch

    from manganinja.evaluation import benchmark as B
    from manganinja.lines import Lines
    from manganinja.pipeline import MangaNinjaPipeline
    from manganinja.points import PointPairs

    torch.set_num_threads(args.threads)
    pipe = MangaNinjaPipeline.from_pretrained(args.model)
    if args.reach:
        print(f"# point embeddings of {args.model}: {args.points} pairs of pair 0, seed {args.seed}")
        print("| tokens | norm of e at the points | norm of h (norm1 output) | cos(e_tar i, e_ref i) | cos(e_tar i, e_ref j), j != i | own pair most similar |")
        print("|---|---|---|---|---|---|")
        print("\n".join(embedding_reach(pipe, args.seed, args.points)))
        return 0
    runs: dict[str, list[float]] = {"blank, none": [], "blank, guides": [], "lines, none": [], "lines, guides": [], "floor": []}
    resolution = int(pipe.recommended.get("resolution", 64))
    with tempfile.TemporaryDirectory() as tmp:
        data = B.write_synthetic_benchmark(Path(tmp) / "bench", pairs=args.pairs, seed=args.seed, size=256)
        if args.attention:
            print(f"# guides' attention: {args.model}, {args.pairs} pairs of seed {args.seed} (a->b), {args.points} guide points, {args.steps} steps")
            stats, errors = guide_attention(pipe, data, list(B.read_manifest(data)["pairs"]), args.points, args.steps)
            print("\n".join(attention_markdown(stats, errors)))
            return 0
        for name in B.read_manifest(data)["pairs"]:
            reference, target, _, points = B.load_pair(data, name).direction("a->b")
            guide_idx, _ = B.split_points(len(points), args.points, name, 0)
            guide = PointPairs([points[int(i)] for i in guide_idx])
            wanted = point_colors(np.asarray(reference.convert("RGB")), guide.reference_xy)
            lines = Lines.from_picture(target, "xdog")
            blank = Lines(np.zeros_like(lines.array))
            floor = point_colors(np.asarray(pipe.autoencode(target, resolution)), guide.lineart_xy)
            runs["floor"].append(float(((floor - wanted) ** 2).mean()))
            for (tag, line), pts in [((t, ln), pp) for t, ln in (("blank", blank), ("lines", lines))
                                     for pp in (None, guide)]:
                out = pipe(reference=reference, lineart=line, points=pts, generator=torch.Generator().manual_seed(0),
                           num_inference_steps=args.steps, guidance_scale_point=args.guidance_point,
                           output_type="np", progress=False).images[0]
                got = point_colors(out, guide.lineart_xy)
                runs[f"{tag}, {'guides' if pts is not None else 'none'}"].append(float(((got - wanted) ** 2).mean()))
    print(f"# point path: {args.model}, {args.pairs} pairs of seed {args.seed} (a->b), {args.points} guide points, "
          f"{args.steps} steps; MSE at the guide target points vs their reference colors")
    print("| line art | no points | with guides | paired (guides - none) | pairs improved |")
    print("|---|---|---|---|---|")
    summary = {}
    for tag in ("blank", "lines"):
        none, guided = runs[f"{tag}, none"], runs[f"{tag}, guides"]
        diff = [g - n for g, n in zip(guided, none)]
        (mn, hn), (mg, hg), (md, hd) = interval(none), interval(guided), interval(diff)
        better = sum(d < 0 for d in diff)
        summary[tag] = {"none": mn, "guides": mg, "diff": md, "diff_half": hd, "better": better, "runs": len(diff)}
        print(f"| {tag} | {mn:.4f} ± {hn:.4f} | {mg:.4f} ± {hg:.4f} | {md:+.4f} ± {hd:.4f} | {better} / {len(diff)} |")
    mf, hf = interval(runs["floor"])
    summary["floor"] = mf
    print(f"\nfloor, the target itself through the autoencoder at {resolution} px: {mf:.4f} ± {hf:.4f} (no sampler of this "
          "model can do better)")
    if args.json:
        write_json_atomic({"args": vars(args), "summary": summary, "runs": runs}, args.json)
    return 0


if __name__ == "__main__":
    run_script(main)
