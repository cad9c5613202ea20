"""Metrics of the benchmark on small arrays with answers computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from manganinja.evaluation import metrics as M


def test_psnr_identical_is_capped():
    img = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert M.psnr(img, img) == M.PSNR_CAP_DB == 100.0


def test_psnr_constant_offset_by_hand():
    target = np.full((5, 7, 3), 100, np.uint8)
    result = np.full((5, 7, 3), 110, np.uint8)
    # MSE = (10/255)^2 -> PSNR = 20 log10(25.5) = 28.1308 dB
    assert M.psnr(result, target) == pytest.approx(28.130803, abs=1e-5)


def test_psnr_on_foreground_composites_on_white():
    target = np.full((4, 4, 3), 0.5)
    result = np.full((4, 4, 3), 0.6)
    result[0, 0] = 0.0  # outside the mask: ignored
    mask = np.zeros((4, 4), bool)
    mask[2:, 2:] = True  # 4 of 16 pixels, offset 0.1 there -> MSE 0.01 * 4 / 16 = 0.0025
    assert M.psnr(result, target, mask) == pytest.approx(10 * math.log10(400.0), abs=1e-9)
    assert M.psnr(result, target) < M.psnr(result, target, mask)


def test_mask_of_wrong_size_is_named():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(M.MetricInputError, match=r"\(3, 4\)"):
        M.psnr(img, img, np.ones((3, 4), bool))


def test_float_out_of_range_rejected():
    with pytest.raises(M.MetricInputError, match="result"):
        M.psnr(np.full((4, 4, 3), 1.5), np.zeros((4, 4, 3)))


def test_ms_ssim_identical_is_one():
    img = np.random.default_rng(1).random((64, 48, 3))
    assert M.ms_ssim(img, img) == pytest.approx(1.0, abs=1e-12)


def test_ms_ssim_scales():
    assert M.ms_ssim_scales(32, 40) == 2  # 32 -> 16 -> 8 (< 11)
    assert M.ms_ssim_scales(175, 300) == 4
    assert M.ms_ssim_scales(176, 176) == 5
    assert M.ms_ssim_scales(512, 512) == 5
    with pytest.raises(M.MetricInputError, match="10x20"):
        M.ms_ssim_scales(10, 20)


def test_ms_ssim_constant_images_by_hand_two_scales():
    # Constant images: zero variance, so every contrast-structure term is C2 / C2 = 1 and only
    # the coarsest luminance term remains: l = (2ab + C1) / (a^2 + b^2 + C1), C1 = 1e-4.
    a, b = 0.2, 0.6
    lum = (2 * a * b + 1e-4) / (a * a + b * b + 1e-4)
    w_last = 0.2856 / (0.0448 + 0.2856)  # 32x32 has 2 scales, weights renormalised
    expected = lum**w_last
    got = M.ms_ssim(np.full((32, 32, 3), a), np.full((32, 32, 3), b))
    assert got == pytest.approx(expected, rel=1e-9)
    assert got == pytest.approx(0.643124, abs=1e-6)


def test_ms_ssim_constant_images_by_hand_five_scales():
    a, b = 0.5, 0.25
    lum = (2 * a * b + 1e-4) / (a * a + b * b + 1e-4)
    got = M.ms_ssim(np.full((176, 180, 3), a), np.full((176, 180, 3), b))
    assert got == pytest.approx(lum**0.1333, rel=1e-9)  # 5 scales: published weights as is


def test_ms_ssim_drops_with_noise_and_is_symmetric():
    rng = np.random.default_rng(2)
    clean = np.tile(np.linspace(0, 1, 64), (64, 1))[..., None].repeat(3, axis=2)
    slight = np.clip(clean + rng.normal(0, 0.02, clean.shape), 0, 1)
    heavy = np.clip(clean + rng.normal(0, 0.3, clean.shape), 0, 1)
    s1, s2 = M.ms_ssim(slight, clean), M.ms_ssim(heavy, clean)
    assert 1.0 > s1 > s2 >= 0.0
    assert M.ms_ssim(clean, heavy) == pytest.approx(s2, rel=1e-12)


def test_point_mse_identical_is_zero():
    img = np.random.default_rng(3).integers(0, 256, (9, 9, 3), dtype=np.uint8)
    assert M.point_mse(img, img, [[4, 4], [0, 8]]) == 0.0


def test_point_mse_by_hand():
    target = np.zeros((9, 9, 3))
    result = np.zeros((9, 9, 3))
    result[5, 4, 1] = 0.5  # inside the 3x3 patch of point (x=4, y=4): 0.25 / 27
    result[8, 8, :] = 0.3  # far from both points
    result[0:2, 0:2, :] = 0.1  # corner point (0, 0): the patch is cut to 2x2 -> 0.01
    got = M.point_mse(result, target, [[4, 4], [0, 0]])
    assert got == pytest.approx((0.25 / 27 + 0.01) / 2, rel=1e-12)


def test_the_patch_of_a_point_is_rounded_and_cut_at_the_border():
    image = np.arange(5 * 6).reshape(5, 6)
    assert image[M.patch_slices((2.4, 2.6))].tolist() == image[2:5, 1:4].tolist()
    assert image[M.patch_slices((0.0, 4.0))].tolist() == image[3:5, 0:2].tolist()  # a corner: 2 x 2
    assert image[M.patch_slices((5.0, 0.0), patch=5)].tolist() == image[0:3, 3:6].tolist()


def test_point_mse_rejects_bad_points():
    img = np.zeros((9, 9, 3))
    with pytest.raises(M.MetricInputError, match="point 2"):
        M.point_mse(img, img, [[1, 1], [9, 2]])
    with pytest.raises(M.MetricInputError, match="at least one"):
        M.point_mse(img, img, np.zeros((0, 2)))


def test_cosine_similarity():
    assert M.cosine_similarity([1, 0], [0, 2]) == pytest.approx(0.0)
    assert M.cosine_similarity([1, 1], [2, 2]) == pytest.approx(1.0)
    assert M.cosine_similarity([1, 0], [-3, 0]) == pytest.approx(-1.0)


def test_mean_ci95_by_hand():
    mean, half, n = M.mean_ci95([1.0, 2.0, 3.0, float("nan")])
    # sd 1, sem 1/sqrt(3), t(0.975, 2 dof) = 4.302653
    assert (mean, n) == (2.0, 3)
    assert half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert math.isnan(M.mean_ci95([5.0])[1])
    assert M.mean_ci95([])[2] == 0


def _library_ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    torch = pytest.importorskip("torch")
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    x, y = (torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)[None])) for v in (a, b))
    return float(pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=True))


@pytest.mark.parametrize("shape", [(256, 256), (192, 320)])  # sides even at the first 4 scales
def test_ms_ssim_equals_pytorch_msssim_on_large_images(shape):
    rng = np.random.default_rng(5)
    clean = np.clip(rng.normal(0.5, 0.2, (*shape, 3)), 0, 1)
    clean = np.stack([np.convolve(row, np.ones(5) / 5, mode="same") for row in clean.reshape(-1, shape[1])]).reshape(clean.shape)
    for sigma in (0.02, 0.1, 0.3):
        noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 1)
        assert M.ms_ssim(noisy, clean) == pytest.approx(_library_ms_ssim(noisy, clean), abs=1e-4)


def test_small_images_use_the_scales_that_fit_with_renormalised_weights():
    rng = np.random.default_rng(6)
    a = rng.random((100, 120, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    assert M.ms_ssim_scales(100, 120) == 4  # 100 -> 50 -> 25 -> 12 (-> 6 < 11)
    w = np.asarray(M.MS_SSIM_WEIGHTS[:4])
    assert M.ms_ssim(a, b) == pytest.approx(M.ms_ssim(a, b, weights=tuple(w / w.sum())), rel=1e-12)
    # and it is the published definition restricted to those scales: one scale is plain SSIM
    assert M.ms_ssim(a[:20, :20], b[:20, :20]) == pytest.approx(
        np.mean([M.ssim(a[:20, :20, c], b[:20, :20, c]) for c in range(3)]), rel=1e-12)


def test_ssim_of_maps():
    rng = np.random.default_rng(7)
    a = rng.random((40, 30))
    assert M.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert M.ssim(a, np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)) < 0.9
    with pytest.raises(M.MetricInputError, match="10x30"):
        M.ssim(a[:10], a[:10])


def test_ms_ssim_coarsest_scale_is_the_mean_ssim_like_the_library():
    # Luminance wrong in one half, structure in the other: the mean of luminance x structure
    # (the definition) differs from the product of their means by about 5e-4 here.
    h = w = 256
    yy, xx = np.mgrid[0:h, 0:w] / h
    clean = np.stack([0.5 + 0.3 * np.sin(6 * xx + c) * np.cos(5 * yy) for c in range(3)], -1)
    result = clean.copy()
    result[:, :128] *= 0.2
    rng = np.random.default_rng(0)
    result[:, 128:] = np.clip(result[:, 128:] + rng.normal(0, 0.3, result[:, 128:].shape), 0, 1)
    assert M.ms_ssim(result, clean) == pytest.approx(_library_ms_ssim(result, clean), abs=1e-5)
