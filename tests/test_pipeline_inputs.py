"""Bad input to the pipeline gets a clear error naming the bad value."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from manganinja import PointPairs
from manganinja.images import ImageInputError
from manganinja.pipeline import build_pipeline
from manganinja.points import PointsError


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    ref = Image.fromarray(rng.integers(0, 255, (64, 48, 3), dtype=np.uint8))
    line = np.zeros((80, 64), np.uint8)
    line[::9, :] = 255
    return ref, Image.fromarray(line)


def run(pipe, images, **kw):
    ref, line = images
    args = dict(reference=ref, lineart=line, num_inference_steps=1, resolution=64, progress=False)
    args.update(kw)
    return pipe(**args)


def test_output_has_lineart_size_and_is_deterministic(pipe, images):
    import torch

    a = run(pipe, images, output_type="np", generator=torch.Generator().manual_seed(3)).images[0]
    b = run(pipe, images, output_type="np", generator=torch.Generator().manual_seed(3)).images[0]
    assert a.shape == (80, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert run(pipe, images).images[0].size == (64, 80)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_inference_steps": 0}, "num_inference_steps must be an integer >= 1, got 0"),
        ({"guidance_scale_ref": -1.0}, "guidance_scale_ref must be a finite number >= 0, got -1.0"),
        ({"guidance_scale_point": float("nan")}, "guidance_scale_point"),
        ({"output_type": "latent"}, "output_type must be 'pil' or 'np', got 'latent'"),
        ({"resolution": 32}, "resolution must be a positive multiple of 64 .* got 32"),
            ({"resolution": 100}, "resolution must be a positive multiple of 64 .* got 100"),
        ({"guidance": "classic"}, "'classic'"),
        ({"reference_mode": "mosaic"}, "'mosaic'"),
    ],
)
def test_bad_arguments(pipe, images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run(pipe, images, **kwargs)


def _controlnet_condition(pipe, images, **kw):
    seen = []
    handle = pipe.controlnet.register_forward_pre_hook(
        lambda m, a, k: seen.append(k["controlnet_cond"].clone()), with_kwargs=True
    )
    try:
        run(pipe, images, **kw)
    finally:
        handle.remove()
    return seen[0]


def test_lineart_polarity_is_normalized(pipe, images):
    ref, line = images
    inverted = Image.fromarray(255 - np.asarray(line))
    a = _controlnet_condition(pipe, images)
    assert torch.equal(_controlnet_condition(pipe, (ref, inverted)), a)
    forced = _controlnet_condition(pipe, (ref, inverted), lineart_polarity="light-on-dark")
    assert not torch.equal(forced, a)
    # the condition is white lines on black in [-1, 1], 3 channels, values <= 0.24 zeroed
    assert a.shape == (2, 3, 64, 64) and a.min() == -1 and a.max() > 0.5
    assert not ((a > -1) & (a <= 2 * 0.24 - 1)).any()


def test_image_is_colorized_at_its_size(pipe, images):
    ref, _ = images
    rng = np.random.default_rng(2)
    picture = np.full((96, 64, 3), 230, np.uint8)
    picture[20:70, 10:50] = (200, 40, 40)
    picture[40:60, 20:30] = (30, 30, 160)
    out = pipe(reference=ref, image=Image.fromarray(picture), num_inference_steps=1, resolution=64,
               progress=False, output_type="np").images[0]
    assert out.shape == (96, 64, 3)
    with pytest.raises(ValueError, match="needs the official extractor weights"):
        pipe(reference=ref, image=Image.fromarray(picture), extractor="informative", num_inference_steps=1,
             resolution=64, progress=False)
    del rng


def test_lineart_and_image_are_exclusive(pipe, images):
    with pytest.raises(ValueError, match="exactly one of `lineart`"):
        run(pipe, images, image=images[0])


def test_points_outside_the_image_are_named(pipe, images):
    pts = PointPairs.from_arrays([[10, 10]], [[70, 5]])
    with pytest.raises(PointsError, match=r"pair 1 line-art point \(70, 5\) is outside the 64x80 image"):
        run(pipe, images, points=pts)
    pts = PointPairs.from_arrays([[48, 10]], [[5, 5]])
    with pytest.raises(PointsError, match=r"pair 1 reference point \(48, 10\) is outside the 48x64 image"):
        run(pipe, images, points=pts)


def test_unreadable_and_empty_images(pipe, images, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageInputError, match="empty.png'.*empty"):
        run(pipe, images, lineart=empty)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a png")
    with pytest.raises(ImageInputError, match="junk.png'.*cannot be read"):
        run(pipe, images, reference=junk)
    with pytest.raises(ImageInputError, match="file not found"):
        run(pipe, images, reference=tmp_path / "missing.png")


def test_malformed_points_file(tmp_path):
    bad = tmp_path / "points.json"
    bad.write_text('{"pairs": [{"reference": [1, 2], "lineart": [3')
    with pytest.raises(PointsError, match="malformed JSON at line 1"):
        PointPairs.from_json(bad)
    bad.write_text('{"pairs": [{"reference": [1, 2], "lineart": "x"}]}')
    with pytest.raises(PointsError, match="pair 1 'lineart': expected \\[x, y\\]"):
        PointPairs.from_json(bad)


def test_wrong_latents_shape(pipe, images):
    import torch

    with pytest.raises(ValueError, match=r"latents of shape \(1, 4, 4, 4\) given; this line art needs \(1, 4, 8, 8\)"):
        run(pipe, images, latents=torch.zeros(1, 4, 4, 4))


def test_a_lines_value_is_used_as_it_is(pipe, images):
    """The pipeline takes a Lines as it is: the same result as the drawing it was made from, and
    a float line map is not quantized to 8 bits on the way (a soft value survives)."""
    from manganinja.lines import Lines

    ref, line = images
    lines = Lines.from_input(line)
    kw = dict(output_type="np")
    a = run(pipe, images, generator=torch.Generator().manual_seed(1), **kw).images[0]
    b = run(pipe, (ref, lines), generator=torch.Generator().manual_seed(1), **kw).images[0]
    np.testing.assert_array_equal(a, b)
    soft = np.zeros((64, 64), np.float32)
    soft[::8] = 0.5021  # between two 8-bit levels (128/255 = 0.50196)
    cond = pipe.lineart_condition(Lines.from_input(soft), (64, 64))
    assert torch.isclose(cond[0, 0, 0, 0], torch.tensor(0.5021 * 2 - 1), atol=1e-6)
    with pytest.raises(ValueError, match="polarity"):
        run(pipe, images, lineart_polarity="upside-down")


def test_recommended_values_are_a_saved_config_entry(tmp_path):
    from manganinja.pipeline import MangaNinjaPipeline

    p = build_pipeline("tiny", seed=0)
    assert p.recommended == {}
    p.set_recommended(resolution=128, steps=20, guidance_scale_ref=7.5)
    p.save_pretrained(tmp_path / "m")
    assert '"recommended"' in (tmp_path / "m" / "model_index.json").read_text()
    again = MangaNinjaPipeline.from_pretrained(tmp_path / "m")
    assert again.recommended == {"resolution": 128, "steps": 20, "guidance_scale_ref": 7.5}
    with pytest.raises(ValueError, match="multiple of 64"):
        p.set_recommended(resolution=100)


def test_autoencode_keeps_the_size_and_is_the_decode_of_the_encoding(pipe):
    """``autoencode`` (the benchmarks' floor) runs a picture through the autoencoder at the
    processing size and back to its own size, as sampling decodes its latents."""
    from manganinja.images import fit_long_side

    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (60, 100, 3), dtype=np.uint8))
    out = pipe.autoencode(picture, 64)
    assert out.size == picture.size and out.mode == "RGB"
    size = fit_long_side(picture.size, 64)
    with torch.no_grad():
        latents = pipe.vae.encode(pipe._image_tensor(picture, size)).latent_dist.mode() * pipe.vae.config.scaling_factor
    assert np.array_equal(np.asarray(out), np.asarray(pipe._decode_picture(latents, picture.size)))
    assert np.array_equal(np.asarray(pipe.autoencode(np.asarray(picture), 64)), np.asarray(out))
