"""The floor an autoencoder puts under a tiny MangaNinja's benchmark figures, before any diffusion
training: each benchmark target itself through the autoencoder alone (resized to the working
size, posterior mean, decoded to 8 bits, resized back:
:meth:`~manganinja.pipeline.MangaNinjaPipeline.autoencode`), scored like the ``points`` part of
``tiny_synthetic_eval.py`` (direction a->b, the points outside the 20-point guide split) and on
the whole frame. No sampler of a model built on that autoencoder can paint the scored points
closer. The first row is the resizing alone (a perfect autoencoder at that working size): what
is left between it and an autoencoder's row is all a wider or longer-trained autoencoder can buy.

    python benchmarks/autoencoder_floor.py models/tiny-synthetic/vae runs/ae_sweep/w64/final \\
        --data runs/repro/data/bench

With ``--holdout FOLDER`` (synthetic frames, e.g. the chain's ``runs/repro/data/aeval``) a second
table says where each autoencoder's reconstruction error sits on those frames: the pixels at a
color edge (a 3 x 3 neighbourhood whose range exceeds :data:`EDGE_STEP` levels in a channel:
outlines and the borders between flat colors) against the flat interiors.

    python benchmarks/autoencoder_floor.py models/tiny-synthetic/vae --data runs/repro/data/bench \
        --holdout runs/repro/data/aeval

With ``--snap`` every row is measured a second time with its picture snapped to the regions of
the target's XDoG line art (:func:`~manganinja.flat.snap.snap_layers`, the lines on top), as
``manganinja colorize`` paints the model's picture by default: the floor under the snapped figures.

    python benchmarks/autoencoder_floor.py models/tiny-synthetic/vae --data runs/full20/data/bench --snap

VAE: ``AutoencoderKL`` folders (``manganinja train-autoencoder`` writes them to
``train.output_dir/final``, with the held-out PSNR in ``metrics.json``, printed beside).
Run with the package installed, as the README installs it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from manganinja.cli import run_script
from manganinja.requests import RequestError, check_input_folder


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("vae", nargs="+", help="AutoencoderKL folders")
    p.add_argument("--data", type=Path, default=Path("data/bench256-seed1"), help="a benchmark folder (manganinja benchmark synth)")
    p.add_argument("--resolution", type=int, default=64, help="the model's working size in px (default 64)")
    p.add_argument("--scored-outside", type=int, default=20, help="points kept as guides, not scored (default 20)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--holdout", type=Path, help="synthetic pair folders' root: where the error sits on its frames")
    p.add_argument("--snap", action="store_true", help="each row again, its picture snapped to the target's line-art regions")
    args = p.parse_args(argv)
    for vae in args.vae:
        check_input_folder(Path(vae), "", "AutoencoderKL")
    check_input_folder(args.data, "--data", "benchmark")
    return args


#: A pixel is at a color edge when its 3 x 3 neighbourhood spans more than this many 8-bit levels in
#: a channel.
EDGE_STEP = 24


def edge_split(vae_dir: str, frames: "torch.Tensor") -> dict[str, float | None]:
    """Where the reconstruction error of the autoencoder in ``vae_dir`` sits on uint8 frames
    (N, 3, H, W), reconstructed as its training scores them (posterior mean, 8 bits): the held-out
    PSNR (mean over frames), the share of pixels at a color edge (:data:`EDGE_STEP`), the share of
    the squared error on them, and the PSNR of the edge and of the flat pixels (pooled; None when
    there are none)."""
    import cv2
    from diffusers import AutoencoderKL

    from manganinja.training.autoencoder import frame_psnr, psnr_of_mse, reconstruct

    rec8 = reconstruct(AutoencoderKL.from_pretrained(vae_dir).eval(), frames)
    pictures = frames.numpy().transpose(0, 2, 3, 1)
    # per pixel, in [-1, 1] units as psnr_of_mse takes them
    error = (((rec8 - frames.float()) / 127.5) ** 2).mean(dim=1).numpy()
    ball = np.ones((3, 3), np.uint8)
    edge = np.stack([(cv2.dilate(p, ball) - cv2.erode(p, ball)).max(axis=-1) > EDGE_STEP for p in pictures])

    def pooled_psnr(where: np.ndarray) -> float | None:
        return psnr_of_mse(max(float(error[where].mean()), 1e-12)) if where.any() else None

    return {"psnr": frame_psnr(rec8, frames), "edge_pixels": float(edge.mean()),
            "edge_error": float(error[edge].sum() / max(float(error.sum()), 1e-12)),
            "edge_psnr": pooled_psnr(edge), "flat_psnr": pooled_psnr(~edge)}


def floor_of(vae_dir: str | None, data: Path, resolution: int, scored_outside: int,
             snap: bool = False) -> dict[str, float | int | str | None]:
    """Floor figures on the benchmark ``data`` of the autoencoder in ``vae_dir`` (None: the
    resizing alone, :func:`~manganinja.images.resize_round_trip`): mean and 95 % interval over
    the pairs (a->b) of the point MSE and of the whole-frame PSNR, the held-out PSNR its training
    measured (``metrics.json``; None when absent) and its parameter count (0 for the resizing).
    ``snap``: the picture snapped to the regions of the target's XDoG line art first, as
    ``manganinja colorize`` paints by default."""
    from manganinja.evaluation.metrics import mean_ci95
    from manganinja.training.reproduce import autoencoder_pipeline, oracle_scores, scored_point_mse

    held_out, parameters = None, 0
    if vae_dir is None:
        from manganinja.images import resize_round_trip

        def render(picture: Image.Image) -> np.ndarray:
            return np.asarray(resize_round_trip(picture.convert("RGB"), resolution))
    else:
        pipe = autoencoder_pipeline(vae_dir)
        parameters = sum(p.numel() for p in pipe.vae.parameters())
        metrics = Path(vae_dir) / "metrics.json"
        held_out = json.loads(metrics.read_text()).get("holdout_psnr_db") if metrics.is_file() else None

        def render(picture: Image.Image) -> np.ndarray:
            return np.asarray(pipe.autoencode(picture, resolution))

    if snap:
        from manganinja.flat.snap import snap_layers
        from manganinja.lines import Lines

        plain = render

        def render(picture: Image.Image) -> np.ndarray:
            return snap_layers(plain(picture), Lines.from_picture(picture, "xdog")).composite

    scores = oracle_scores(render, data, "a->b", scored_outside)
    try:
        point = mean_ci95(scored_point_mse(scores, data, scored_outside))
    except ValueError as exc:
        raise RequestError(f"{exc}; lower --scored-outside") from None
    psnr = mean_ci95([float(s["psnr"]) for s in scores if s["psnr"] is not None])
    return {"vae": (vae_dir or "resize only") + (", snapped" if snap else ""), "parameters": parameters, "holdout_psnr_db": held_out,
            "point_mse": point[0], "point_mse_ci": point[1], "psnr": psnr[0], "psnr_ci": psnr[1]}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    print("| autoencoder | parameters | held-out PSNR (training) | floor point MSE | floor PSNR (dB) |")
    print("|---|---|---|---|---|")
    for vae, snap in [(vae, snap) for snap in ((False, True) if args.snap else (False,)) for vae in (None, *args.vae)]:
        r = floor_of(vae, args.data, args.resolution, args.scored_outside, snap)
        held = "—" if r["holdout_psnr_db"] is None else f"{r['holdout_psnr_db']:.2f} dB"
        parameters = f"{r['parameters']:,}" if r["parameters"] else "—"
        print(f"| {r['vae']} | {parameters} | {held} | {r['point_mse']:.4f} ± {r['point_mse_ci']:.4f} | "
              f"{r['psnr']:.2f} ± {r['psnr_ci']:.2f} |", flush=True)
    if args.holdout is not None:
        from manganinja.training.autoencoder import load_frames

        frames = load_frames([str(args.holdout)], args.resolution)
        print(f"\n{len(frames)} frames of {args.holdout} at {args.resolution} px:\n")
        print("| autoencoder | PSNR | pixels at color edges | their share of the error | PSNR there | PSNR elsewhere |")
        print("|---|---|---|---|---|---|")
        for vae in args.vae:
            r = edge_split(vae, frames)
            there, elsewhere = (("—" if v is None else f"{v:.2f} dB") for v in (r["edge_psnr"], r["flat_psnr"]))
            print(f"| {vae} | {r['psnr']:.2f} dB | {r['edge_pixels']:.1%} | {r['edge_error']:.1%} | {there} | {elsewhere} |",
                  flush=True)


if __name__ == "__main__":
    run_script(main)
