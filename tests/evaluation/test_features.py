"""CLIP-I / DINO-I embedders on tiny random models built and saved here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from manganinja.evaluation import benchmark as B
from manganinja.evaluation.features import FeatureModelError, load_clip_embedder, load_dino_embedder
from manganinja.evaluation.metrics import cosine_similarity


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from transformers import (
        BitImageProcessor,
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
        Dinov2Config,
        Dinov2Model,
    )

    root = tmp_path_factory.mktemp("features")
    torch.manual_seed(0)
    clip = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8, projection_dim=16))
    clip.save_pretrained(root / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(root / "clip")
    dino = Dinov2Model(Dinov2Config(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                    num_attention_heads=4, image_size=32, patch_size=8))
    dino.save_pretrained(root / "dino")
    BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(root / "dino")
    return root, clip, dino


def test_clip_embedder_matches_the_model(tiny_models):
    root, clip, _ = tiny_models
    embed = load_clip_embedder(root / "clip")
    img = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    got = embed(img)
    assert got.shape == (16,)
    from transformers import CLIPImageProcessor

    pixels = CLIPImageProcessor.from_pretrained(root / "clip")(images=[img], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = clip.eval()(pixel_values=pixels).image_embeds[0].double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert cosine_similarity(embed(img), embed(img)) == pytest.approx(1.0)
    other = np.full_like(img, 255)
    assert cosine_similarity(embed(img), embed(other)) < 0.999


def test_dino_embedder_is_the_cls_token(tiny_models):
    root, _, dino = tiny_models
    embed = load_dino_embedder(root / "dino")
    img = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    got = embed(img)
    assert got.shape == (32,)
    from transformers import AutoImageProcessor

    pixels = AutoImageProcessor.from_pretrained(root / "dino")(images=[img], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = dino.eval()(pixel_values=pixels)
    np.testing.assert_allclose(got, out.pooler_output[0].double().numpy(), rtol=1e-5, atol=1e-6)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FeatureModelError, match="nowhere"):
        load_clip_embedder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeatureModelError, match="empty"):
        load_dino_embedder(tmp_path / "empty")


def test_score_uses_feature_models_only_when_given(tiny_models):
    root = tiny_models[0]
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    none = B.score(a, b, None, np.zeros((0, 2)))
    assert none["clip_i"] is None and none["dino_i"] is None and none["lpips"] is None
    scorers = B.Scorers(clip=load_clip_embedder(root / "clip"), dino=load_dino_embedder(root / "dino"))
    got = B.score(a, b, None, np.zeros((0, 2)), scorers)
    assert -1.0 <= got["clip_i"] <= 1.0 and -1.0 <= got["dino_i"] <= 1.0
    assert B.score(a, a, None, np.zeros((0, 2)), scorers)["clip_i"] == pytest.approx(1.0)


def _lpips_folder(root, lin_scale=1.0, only_first=False):
    from manganinja.evaluation.features import LPIPS_CHANNELS, alexnet_features

    torch.manual_seed(0)
    trunk = alexnet_features()
    state = {f"features.{k}": v for k, v in trunk.state_dict().items()}
    state["classifier.1.weight"] = torch.zeros(2, 2)  # ignored, as in torchvision's file
    root.mkdir(parents=True, exist_ok=True)
    torch.save(state, root / "alexnet.pth")
    lin = {}
    for i, c in enumerate(LPIPS_CHANNELS):
        w = torch.rand(1, c, 1, 1) * lin_scale
        lin[f"lin{i}.model.1.weight"] = w if (i == 0 or not only_first) else torch.zeros_like(w)
    torch.save(lin, root / "alex.pth")
    return trunk, lin


def test_lpips_zero_for_identical_and_first_layer_by_hand(tmp_path):
    from manganinja.evaluation.features import load_lpips

    trunk, lin = _lpips_folder(tmp_path / "lpips", only_first=True)
    dist = load_lpips(tmp_path / "lpips")
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert dist(a, a) == 0.0
    assert dist(a, b) > 0.0 and dist(a, b) == pytest.approx(dist(b, a), rel=1e-6)
    # only layer 0 has weights: sum_c w_c (unit-normalised relu(conv1) difference)^2, mean over space
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def f0(img):
        x = (torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1 - shift) / scale
        y = torch.relu(torch.nn.functional.conv2d(x, trunk[0].weight, trunk[0].bias, stride=4, padding=2))
        return y / (y.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)

    with torch.no_grad():
        expected = float(((f0(a) - f0(b)) ** 2 * lin["lin0.model.1.weight"]).sum(1).mean())
    assert dist(a, b) == pytest.approx(expected, rel=1e-5)


def test_lpips_rejects_wrong_weights(tmp_path):
    from manganinja.evaluation.features import load_lpips

    _lpips_folder(tmp_path / "lpips")
    torch.save({"lin0.model.1.weight": torch.zeros(1, 3, 1, 1)}, tmp_path / "lpips" / "alex.pth")
    with pytest.raises(FeatureModelError, match="lin0"):
        load_lpips(tmp_path / "lpips")
    (tmp_path / "lpips" / "alexnet.pth").unlink()
    with pytest.raises(FeatureModelError, match="alexnet.pth"):
        load_lpips(tmp_path / "lpips")
