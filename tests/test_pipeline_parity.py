"""Parity with the official implementation on the vendored ``tests/fixtures/official_tiny``.

The official inference code produced ``expected/colorized.png`` from these tiny checkpoints;
we load them with ``from_official`` and must reproduce it (max abs diff <= 2, mean <= 0.5).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from manganinja import MangaNinjaPipeline, PointPairs


def _expected(root: Path) -> tuple[dict, torch.Tensor, np.ndarray]:
    settings = json.loads((root / "expected" / "settings.json").read_text())
    noise = load_file(str(root / "expected" / "tensors.safetensors"))["initial_noise"]
    expected = np.asarray(Image.open(root / "expected" / "colorized.png").convert("RGB"))
    return settings, noise, expected


def _run(pipe: MangaNinjaPipeline, root: Path) -> np.ndarray:
    settings, noise, _ = _expected(root)
    return pipe(
        reference=Image.open(root / "inputs" / "reference.png"),
        lineart=Image.open(root / "inputs" / "lineart.png"),
        points=PointPairs.from_json(root / "inputs" / "points.json"),
        num_inference_steps=settings["steps"],
        guidance_scale_ref=settings["guidance_scale_ref"],
        guidance_scale_point=settings["guidance_scale_point"],
        latents=noise,
        resolution=settings["width"],
        output_type="np",
        progress=False,
    ).images[0]


def _assert_matches(result: np.ndarray, expected: np.ndarray) -> None:
    assert result.shape == expected.shape
    diff = np.abs(result.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= 2, f"max abs difference {diff.max()} > 2"
    assert diff.mean() <= 0.5, f"mean abs difference {diff.mean():.4f} > 0.5"


@pytest.fixture(scope="module")
def official_pipe(official_tiny):
    return MangaNinjaPipeline.from_official(official_tiny / "checkpoints")


def test_official_points_match_the_official_maps(official_tiny):
    pairs = PointPairs.from_json(official_tiny / "inputs" / "points.json")
    maps = PointPairs.from_official_maps(
        official_tiny / "inputs" / "points_reference.npy", official_tiny / "inputs" / "points_lineart.npy"
    )
    assert np.array_equal(pairs.reference_xy, maps.reference_xy)
    assert np.array_equal(pairs.lineart_xy, maps.lineart_xy)


def test_from_official_reproduces_official_output(official_tiny, official_pipe):
    _, _, expected = _expected(official_tiny)
    _assert_matches(_run(official_pipe, official_tiny), expected)


def test_save_pretrained_roundtrip_reproduces_official_output(official_tiny, official_pipe, tmp_path):
    official_pipe.save_pretrained(tmp_path / "model")
    files = {p.relative_to(tmp_path / "model").as_posix() for p in (tmp_path / "model").rglob("*") if p.is_file()}
    assert "denoising_unet/diffusion_pytorch_model.safetensors" in files
    assert "condition_tokens/diffusion_pytorch_model.safetensors" in files
    assert not any("text_encoder" in f or "tokenizer" in f for f in files)
    assert not any(f.endswith((".bin", ".pth")) for f in files)
    loaded = MangaNinjaPipeline.from_pretrained(tmp_path / "model")
    _, _, expected = _expected(official_tiny)
    _assert_matches(_run(loaded, official_tiny), expected)


def test_cli_colorize_reproduces_official_output(official_tiny, tmp_path):
    settings, noise, expected = _expected(official_tiny)
    out = tmp_path / "out.png"
    cmd = [
        sys.executable, "-m", "manganinja", "colorize",
        "--official", str(official_tiny / "checkpoints"),
        "--reference", str(official_tiny / "inputs" / "reference.png"),
        "--lineart", str(official_tiny / "inputs" / "lineart.png"),
        "--points", str(official_tiny / "inputs" / "points.json"),
        "--steps", str(settings["steps"]),
        "--guidance-ref", str(settings["guidance_scale_ref"]),
        "--guidance-point", str(settings["guidance_scale_point"]),
        "--resolution", str(settings["width"]),
        "--latents", str(official_tiny / "expected" / "tensors.safetensors"),
        "--no-snap",
        "--output", str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _assert_matches(np.asarray(Image.open(out).convert("RGB")), expected)


def test_cli_convert_then_colorize_with_model(official_tiny, tmp_path):
    model = tmp_path / "model"
    proc = subprocess.run(
        [sys.executable, "-m", "manganinja", "convert", "--official", str(official_tiny / "checkpoints"), "--output", str(model)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (model / "model_index.json").is_file()
    settings, _, expected = _expected(official_tiny)
    out = tmp_path / "out.png"
    proc = subprocess.run(
        [
            sys.executable, "-m", "manganinja", "colorize", "--model", str(model),
            "--reference", str(official_tiny / "inputs" / "reference.png"),
            "--lineart", str(official_tiny / "inputs" / "lineart.png"),
            "--points", str(official_tiny / "inputs" / "points.json"),
            "--steps", str(settings["steps"]), "--resolution", str(settings["width"]),
            "--latents", str(official_tiny / "expected" / "tensors.safetensors"),
            "--no-snap", "--output", str(out),
        ],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    _assert_matches(np.asarray(Image.open(out).convert("RGB")), expected)
