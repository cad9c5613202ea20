"""The official line-art extractor's architecture, strict loading and inference wrapper."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from manganinja.lines import BlankLineartWarning, extract_lineart
from manganinja.models.informative_drawings import (
    ExtractorWeightsError,
    InformativeDrawingsGenerator,
    extract_lines,
    generator_from_state_dict,
    load_generator,
)

# Parameter names and shapes of the released sk_model.pth (original informative-drawings names).
EXPECTED_SHAPES = {
    "model0.1.weight": (64, 3, 7, 7),
    "model1.0.weight": (128, 64, 3, 3),
    "model1.3.weight": (256, 128, 3, 3),
    **{f"model2.{i}.conv_block.{j}.weight": (256, 256, 3, 3) for i in range(3) for j in (1, 5)},
    "model3.0.weight": (256, 128, 3, 3),  # ConvTranspose2d: (in, out, k, k)
    "model3.3.weight": (128, 64, 3, 3),
    "model4.1.weight": (1, 64, 7, 7),
}


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return InformativeDrawingsGenerator().state_dict()


def test_parameter_names_and_shapes() -> None:
    state = random_state_dict()
    weights = {k: tuple(v.shape) for k, v in state.items() if k.endswith(".weight")}
    assert weights == EXPECTED_SHAPES
    biases = {k for k in state if k.endswith(".bias")}
    assert biases == {k.replace(".weight", ".bias") for k in EXPECTED_SHAPES}
    assert len(state) == 2 * len(EXPECTED_SHAPES)  # InstanceNorm adds no keys


def test_loads_saved_state_dict_strictly_and_runs(tmp_path: Path) -> None:
    path = tmp_path / "sk_model.pth"
    torch.save(random_state_dict(), path)
    model = load_generator(path)
    assert not model.training
    for key, value in random_state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    rng = np.random.default_rng(0)
    rgb = rng.random((37, 50, 3)).astype(np.float32)  # not a multiple of 4: padded and cropped
    out = extract_lines(model, rgb)
    assert out.shape == (37, 50) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0 and out.std() > 0
    with torch.no_grad():
        direct = 1.0 - model(torch.from_numpy(rgb[:36, :48]).permute(2, 0, 1)[None])[0, 0].numpy()
    # Away from the padded border, the padded run matches an unpadded one closely.
    assert np.abs(out[:20, :30] - direct[:20, :30]).mean() < 0.05

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BlankLineartWarning)
        via_api = extract_lineart((rgb * 255).astype(np.uint8), method="informative", weights=path)
        via_auto = extract_lineart((rgb * 255).astype(np.uint8), weights=path)
    assert via_api.shape == (37, 50)
    np.testing.assert_array_equal(via_api, via_auto)


def test_tiny_image_is_padded() -> None:
    model = generator_from_state_dict(random_state_dict())
    out = extract_lines(model, np.full((3, 5, 3), 0.5, np.float32))
    assert out.shape == (3, 5)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda sd: sd.pop("model2.1.conv_block.5.weight"), "missing keys: model2.1.conv_block.5.weight"),
        (lambda sd: sd.__setitem__("model5.0.weight", torch.zeros(1)), "unexpected keys: model5.0.weight"),
        (lambda sd: sd.__setitem__("model4.1.weight", torch.zeros(3, 64, 7, 7)), "model4.1.weight: checkpoint \\(3, 64, 7, 7\\) vs model \\(1, 64, 7, 7\\)"),
    ],
)
def test_rejects_mismatched_state_dict(edit, message: str, tmp_path: Path) -> None:
    state = random_state_dict()
    edit(state)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ExtractorWeightsError, match=message):
        load_generator(path)


def test_bad_weight_files(tmp_path: Path) -> None:
    with pytest.raises(ExtractorWeightsError, match="not found"):
        load_generator(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ExtractorWeightsError, match="cannot be read"):
        load_generator(junk)
    listy = tmp_path / "list.pth"
    torch.save([1, 2], listy)
    with pytest.raises(ExtractorWeightsError, match="expected a state dict"):
        load_generator(listy)
    assert issubclass(ExtractorWeightsError, ValueError)
