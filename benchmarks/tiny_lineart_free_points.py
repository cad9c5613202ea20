"""Points steered without the line art, added to a sampler with it: does the point path that works
with no line art (``tiny_point_path.py``: 0.64x at the guide points) help when its step is
added to the usual with-line-art sampling?

Not the paper's guidance and not an engine: a diagnostic sampler. At every step the denoising
U-Net runs five rows: the model's three guidance branches with the line art (unconditional,
REF, POINT) and the REF and POINT branches with a blank line art (the dropped line-art condition
of training). The noise is the model's own combination (``official`` guidance at its recommended
scales) plus ``S`` times the point step without line art::

    eps = official(u, r, p) + S * (p_blank - r_blank)

``S = 0`` is the model's ordinary sampler. For each benchmark pair (a->b), with 0 and with the 20
guide points of the benchmark's split, printed per ``S``: the point MSE at the scored points (the
points outside the 20 guides, as ``tiny_synthetic_eval.py --part points``) and at the 20 guide
points, both against the target, and how many pairs the guides improve.

    python benchmarks/tiny_lineart_free_points.py models/tiny-synthetic --data runs/repro/data/bench --scales 0,2,4,8

Run with the package installed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from manganinja.cli import run_script
from manganinja.requests import RequestError, check_input_folder


def sample(pipe, reference, line, points, scales: list[float], resolution: int, steps: int) -> dict[float, np.ndarray]:
    """The picture (H, W, 3) uint8 for every ``S`` in ``scales`` (same seed, same inputs)."""
    import torch

    from manganinja.guidance import official_guidance
    from manganinja.images import fit_long_side
    from manganinja.lines import Lines
    from manganinja.models.reference_attention import Branch

    rec = pipe.recommended
    size = fit_long_side(line.size, resolution)
    conds = torch.cat([pipe.lineart_condition(line, size)] * 2 + [pipe.lineart_condition(Lines(np.zeros_like(line.array)), size)])
    encoding = pipe.encode_reference(reference, resolution)
    embeddings = pipe.point_embeddings(points, encoding, line.size, size)
    shape = (1, pipe.denoising_unet.config.in_channels, size[1] // pipe.vae_scale_factor, size[0] // pipe.vae_scale_factor)
    # ControlNet rows: (uncond token, lines), (reference token, lines), (reference token, blank)
    context = torch.cat([pipe.condition_tokens(1), encoding.cond_token, encoding.cond_token])
    branches = (Branch.UNCOND, Branch.REF, Branch.POINT, Branch.REF, Branch.POINT)
    rows = torch.tensor([0, 1, 1, 2, 2])
    out = {}
    for s in scales:
        scheduler = pipe.scheduler
        latents = pipe.prepare_latents(shape, pipe.denoising_unet.dtype, torch.Generator().manual_seed(0), None, scheduler)
        scheduler.set_timesteps(steps)
        state = pipe.reference_state
        state.bank, state.branches, state.points = encoding.bank, branches, embeddings
        try:
            with torch.no_grad():
                for t in scheduler.timesteps:
                    x = scheduler.scale_model_input(latents, t)
                    down, mid = pipe.controlnet(x.expand(3, -1, -1, -1), t, encoder_hidden_states=context,
                                                controlnet_cond=conds, return_dict=False)
                    eps = pipe.denoising_unet(x.expand(len(branches), -1, -1, -1), t, encoder_hidden_states=context[rows],
                                              down_block_additional_residuals=[d[rows] for d in down],
                                              mid_block_additional_residual=mid[rows], return_dict=False)[0]
                    u, r, p, r_blank, p_blank = eps.split(1)
                    noise = official_guidance(u, r, p, float(rec["guidance_scale_ref"]), float(rec["guidance_scale_point"]))
                    latents = scheduler.step(noise + s * (p_blank - r_blank), t, latents, return_dict=False)[0]
        finally:
            state.clear()
        out[s] = np.asarray(pipe._decode_picture(latents, line.size))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a MangaNinja pipeline folder, e.g. models/tiny-synthetic")
    p.add_argument("--data", required=True, help="a benchmark folder (e.g. runs/repro/data/bench)")
    p.add_argument("--scales", default="0,2,4,8", help="the values of S, comma-separated (default 0,2,4,8)")
    p.add_argument("--pairs", type=int, default=None, help="the first N pairs only")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    check_input_folder(Path(args.model), "", "pipeline")
    check_input_folder(Path(args.data), "--data", "benchmark")
    try:
        scales = [float(v) for v in args.scales.split(",")]
    except ValueError:
        raise RequestError(f"--scales {args.scales!r} is not a list of numbers; e.g. 0,2,4,8") from None

    import torch

    from manganinja.evaluation import benchmark as B
    from manganinja.lines import Lines
    from manganinja.pipeline import MangaNinjaPipeline
    from manganinja.points import PointPairs

    torch.set_num_threads(args.threads)
    pipe = MangaNinjaPipeline.from_pretrained(args.model)
    resolution, steps = int(pipe.recommended["resolution"]), int(pipe.recommended["steps"])
    names = list(B.read_manifest(Path(args.data))["pairs"])[:args.pairs]
    scored: dict[tuple[int, float], list[float]] = {(k, s): [] for k in (0, 20) for s in scales}
    guided: dict[tuple[int, float], list[float]] = {(k, s): [] for k in (0, 20) for s in scales}
    for name in names:
        reference, target, mask, points = B.load_pair(Path(args.data), name).direction("a->b")
        guide_idx, scored_idx = B.split_points(len(points), 20, name, 0)
        guide = PointPairs([points[int(i)] for i in guide_idx])
        line = Lines.from_picture(target, "xdog")
        for k in (0, 20):
            for s, picture in sample(pipe, reference, line, guide if k else None, scales, resolution, steps).items():
                scored[(k, s)].append(B.score(picture, np.asarray(target), mask, points.lineart_xy[scored_idx])["point_mse"])
                guided[(k, s)].append(B.score(picture, np.asarray(target), mask, guide.lineart_xy)["point_mse"])
    print(f"# {args.model}, {len(names)} pairs of {args.data} (a->b); eps = official(u, r, p) + S (p_blank - r_blank)")
    print("| S | scored points: 0 → 20 guides | ratio | pairs improved | guide points: 0 → 20 guides | ratio |")
    print("|---|---|---|---|---|---|")
    for s in scales:
        a, b = np.asarray(scored[(0, s)]), np.asarray(scored[(20, s)])
        ga, gb = np.asarray(guided[(0, s)]), np.asarray(guided[(20, s)])
        print(f"| {s:g} | {a.mean():.4f} → {b.mean():.4f} | {b.mean() / a.mean():.3f} | {int((b < a).sum())} / {len(a)} "
              f"| {ga.mean():.4f} → {gb.mean():.4f} | {gb.mean() / ga.mean():.3f} |")
    return 0


if __name__ == "__main__":
    run_script(main)
