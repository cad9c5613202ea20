"""A PointNet trained on region point maps (``region_maps``): the pipeline draws its maps that way."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from manganinja import PointPairs
from manganinja.lines import Lines
from manganinja.point_regions import line_regions


def two_part_picture() -> Image.Image:
    """64x64: a red square (16..47) on white, outlined in black."""
    rgb = np.full((64, 64, 3), 250, np.uint8)
    rgb[16:48, 16:48] = (200, 30, 30)
    rgb[16, 16:48] = rgb[47, 16:48] = rgb[16:48, 16] = rgb[16:48, 47] = 0
    return Image.fromarray(rgb)


def square_lines(side: int = 64, first: int = 20, last: int = 43) -> Lines:
    """A ``side`` px line art: a 1-px square outline from ``first`` to ``last``."""
    lines = np.zeros((side, side), np.float32)
    lines[first, first:last + 1] = lines[last, first:last + 1] = lines[first:last + 1, first] = lines[first:last + 1, last] = 1.0
    return Lines(lines)


PAIRS = PointPairs.from_dict({"pairs": [{"reference": [30, 30], "lineart": [30, 30]},
                                        {"reference": [4, 4], "lineart": [4, 60]}]})


@pytest.fixture()
def region_pipe(pipe):
    pipe.point_net.register_to_config(region_maps=True)
    yield pipe
    pipe.point_net.register_to_config(region_maps=False)


def test_region_maps_fill_the_parts_of_the_line_art_and_of_the_reference(region_pipe):
    enc = region_pipe.encode_reference(two_part_picture(), resolution=64)
    assert enc.region_labels is not None and enc.region_labels[0].shape == (64, 64)
    regions = line_regions(square_lines().resized((64, 64)))
    target, (ref,) = region_pipe.point_maps(PAIRS, enc, (64, 64), (64, 64), regions)
    # pair 1 inside the square, pair 2 outside, on both maps
    assert target[25, 38] == 1 and target[38, 25] == 1 and target[2, 2] == 2 and target[60, 60] == 2
    assert ref[40, 20] == 1 and ref[22, 44] == 1 and ref[60, 2] == 2 and ref[2, 60] == 2
    pixel_target, (pixel_ref,) = region_pipe.point_maps(PAIRS, enc, (64, 64), (64, 64))
    assert np.count_nonzero(pixel_target) == 2 and np.count_nonzero(pixel_ref) == 2


def test_a_pixel_map_model_gets_no_region_labels_and_region_maps_need_them(pipe):
    enc = pipe.encode_reference(two_part_picture(), resolution=64)
    assert enc.region_labels is None
    with pytest.raises(ValueError, match="region_labels"):
        pipe.point_maps(PAIRS, enc, (64, 64), (64, 64), line_regions(square_lines().resized((64, 64))))


def test_sampling_with_a_region_map_model_reads_the_regions(region_pipe, pipe):
    kw = dict(reference=two_part_picture(), lineart=square_lines(), points=PAIRS, num_inference_steps=2,
              resolution=64, output_type="np")
    region = region_pipe(generator=torch.Generator().manual_seed(0), **kw).images[0]
    region_pipe.point_net.register_to_config(region_maps=False)
    pixel = pipe(generator=torch.Generator().manual_seed(0), **kw).images[0]
    assert region.shape == pixel.shape == (64, 64, 3)
    assert not np.array_equal(region, pixel)


def big_square_lines() -> Lines:
    """256x256: a 1-px square outline (80..175): at 64 px the bicubic resize thins it below the
    line cutoff, so its regions there would leak; at its own size they do not."""
    return square_lines(256, 80, 175)


BIG_PAIRS = PointPairs.from_dict({"pairs": [{"reference": [30, 30], "lineart": [120, 120]},
                                            {"reference": [4, 4], "lineart": [16, 240]}]})


@pytest.fixture()
def hint_pipe(pipe):
    from manganinja.training.trainer import hinted_controlnet

    original = pipe.controlnet
    pipe.register_modules(controlnet=hinted_controlnet(original))
    yield pipe
    pipe.register_modules(controlnet=original)


def test_hints_are_drawn_at_the_line_arts_own_size_with_each_guides_reference_color(hint_pipe):
    assert hint_pipe.takes_hints
    enc = hint_pipe.encode_reference(two_part_picture(), resolution=64)
    hint = hint_pipe.hint_condition(BIG_PAIRS, enc, big_square_lines(), (64, 64))
    red, white = np.array([200, 30, 30]) / 127.5 - 1, np.array([250, 250, 250]) / 127.5 - 1
    assert hint.shape == (4, 64, 64)
    assert np.allclose(hint[:3, 30, 30], red) and np.allclose(hint[:3, 22, 41], red)  # pair 1's region: inside
    assert np.allclose(hint[:3, 60, 60], white) and np.allclose(hint[:3, 5, 5], white) and hint[3, 5, 5] == 1  # pair 2's
    # the same outline drawn at 64 px loses its lines: one region, the guides' pixels only
    assert line_regions(big_square_lines().resized((64, 64))).max() == 1


def test_only_the_point_branch_sees_the_hints_and_they_move_the_result(hint_pipe):
    with torch.no_grad():
        hint_pipe.controlnet.controlnet_cond_embedding.conv_in.weight[:, 3:] = 0.5  # make the hints count
    seen = []
    hook = hint_pipe.controlnet.register_forward_hook(
        lambda module, args, kwargs, out: seen.append(kwargs["controlnet_cond"].clone()), with_kwargs=True)
    kw = dict(reference=two_part_picture(), lineart=big_square_lines(), num_inference_steps=2, resolution=64, output_type="np")
    try:
        with_points = hint_pipe(points=BIG_PAIRS, generator=torch.Generator().manual_seed(0), **kw).images[0]
        hinted = seen[-1]
        without = hint_pipe(generator=torch.Generator().manual_seed(0), **kw).images[0]
        plain = seen[-1]
    finally:
        hook.remove()
    assert hinted.shape == (3, 7, 64, 64) and plain.shape == (2, 7, 64, 64)  # rows: uncond, REF, POINT
    assert torch.all(hinted[:2, 3:] == 0) and hinted[2, 6].sum() > 0 and torch.all(plain[:, 3:] == 0)
    assert torch.equal(hinted[:, :3], plain[:1, :3].expand(3, -1, -1, -1))
    assert not np.array_equal(with_points, without)
