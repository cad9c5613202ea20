"""benchmarks/autoencoder_floor.py: the floor of an autoencoder is what the training's own
autoencoder_floor measures, the resizing alone sits under every autoencoder, and bad arguments
are one line before anything loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from manganinja.evaluation import benchmark as B

from _scripts import load_script

SHIPPED_VAE = Path(__file__).resolve().parents[2] / "models" / "tiny-synthetic" / "vae"


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


def test_bad_arguments_are_one_line(tmp_path, data, capsys):
    script = load_script("autoencoder_floor")
    with pytest.raises(SystemExit) as exc:
        script.parse_args([str(tmp_path), "--data", str(data)])
    assert exc.value.code == 2 and "is not an AutoencoderKL folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        script.parse_args([str(SHIPPED_VAE), "--data", str(tmp_path)])
    assert exc.value.code == 2 and "is not a benchmark folder" in capsys.readouterr().err
