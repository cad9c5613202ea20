"""benchmarks/autoencoder_floor.py: the floor of an autoencoder is what the training's own
autoencoder_floor measures, the resizing alone sits under every autoencoder, and bad arguments
are one line before anything loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from manganinja.evaluation import benchmark as B

from _scripts import SHIPPED_MODEL, exit_code, load_script

SHIPPED_VAE = SHIPPED_MODEL / "vae"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return B.write_synthetic_benchmark(tmp_path_factory.mktemp("bench") / "b", pairs=2, seed=1, size=256)


def test_the_floor_is_the_pipelines_and_the_resizing_sits_under_it(data):
    from diffusers import AutoencoderKL

    from manganinja.pipeline import build_pipeline
    from manganinja.training.reproduce import autoencoder_floor

    script = load_script("autoencoder_floor")
    shipped = script.floor_of(str(SHIPPED_VAE), data, 64, 20)
    expected = autoencoder_floor(build_pipeline("tiny", seed=0, vae=AutoencoderKL.from_pretrained(SHIPPED_VAE)), data, 64)
    assert shipped["point_mse"] == pytest.approx(np.mean(expected))
    assert shipped["parameters"] > 0
    resize = script.floor_of(None, data, 64, 20)
    assert resize["point_mse"] < shipped["point_mse"] and resize["psnr"] > shipped["psnr"]
    # a larger working size loses less to the resizing
    assert script.floor_of(None, data, 128, 20)["point_mse"] < resize["point_mse"]


def test_snap_scores_the_picture_snapped_to_the_targets_line_art(data):
    """--snap: the same floor with the picture painted into the target's line-art regions, as
    colorize paints the model's picture; the lines drawn over small parts cost point error."""
    from manganinja.flat.snap import snap_layers
    from manganinja.images import resize_round_trip
    from manganinja.lines import Lines
    from manganinja.training.reproduce import oracle_scores, scored_point_mse

    script = load_script("autoencoder_floor")
    snapped = script.floor_of(None, data, 64, 20, snap=True)
    assert snapped["vae"] == "resize only, snapped"
    expected = oracle_scores(lambda t: snap_layers(np.asarray(resize_round_trip(t.convert("RGB"), 64)),
                                                   Lines.from_picture(t, "xdog")).composite, data)
    assert snapped["point_mse"] == pytest.approx(np.mean(scored_point_mse(expected, data, 20)))
    assert snapped["point_mse"] != pytest.approx(script.floor_of(None, data, 64, 20)["point_mse"])
    assert script.parse_args([str(SHIPPED_VAE), "--data", str(data), "--snap"]).snap


def test_bad_arguments_are_one_line(tmp_path, data, capsys):
    script = load_script("autoencoder_floor")
    assert exit_code(script.parse_args, [str(tmp_path), "--data", str(data)]) == 2
    assert "is not an AutoencoderKL folder" in capsys.readouterr().err
    assert exit_code(script.parse_args, [str(SHIPPED_VAE), "--data", str(tmp_path)]) == 2
    assert "is not a benchmark folder" in capsys.readouterr().err


def test_the_edge_split_finds_the_outline_and_splits_the_error_in_two():
    """A flat frame has no edge pixels; a square's outline is where its edges are (3 px wide
    ring of the 3 x 3 range), and the two pooled PSNRs add back up to the whole frame's."""
    import torch

    from manganinja.training.autoencoder import psnr_of_mse

    script = load_script("autoencoder_floor")
    flat = np.full((64, 64, 3), 200, np.uint8)
    square = flat.copy()
    square[20:40, 20:40] = (30, 60, 200)
    frames = torch.from_numpy(np.stack([flat, square])).permute(0, 3, 1, 2).contiguous()
    only_flat = script.edge_split(str(SHIPPED_VAE), frames[:1])
    assert only_flat["edge_pixels"] == 0 and only_flat["edge_psnr"] is None and only_flat["edge_error"] == 0
    both = script.edge_split(str(SHIPPED_VAE), frames)
    ring = (22 * 22 - 18 * 18) / (2 * 64 * 64)  # rows/cols 19..40 minus 21..38, over both frames
    assert both["edge_pixels"] == pytest.approx(ring)
    mse_edge, mse_flat = (4.0 / 10 ** (both[k] / 10) for k in ("edge_psnr", "flat_psnr"))
    pooled = both["edge_pixels"] * mse_edge + (1 - both["edge_pixels"]) * mse_flat
    assert both["edge_error"] == pytest.approx(both["edge_pixels"] * mse_edge / pooled, rel=1e-4)
    assert psnr_of_mse(pooled) > 0
