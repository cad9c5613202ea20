"""Guidance formulas against hand-computed values."""

import pytest
import torch

from manganinja.guidance import get_guidance, official_guidance, paper_guidance


def test_official_formula():
    u, r, p = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([4.0])
    # ((1 + 9 (2 - 1)) + (2 + 15 (4 - 2))) / 2 = (10 + 32) / 2 = 21
    assert official_guidance(u, r, p, 9.0, 15.0).item() == 21.0


def test_paper_formula():
    u, r, p = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([4.0])
    # 1 + 9 (2 - 1) + 15 (4 - 2) = 40
    assert paper_guidance(u, r, p, 9.0, 15.0).item() == 40.0


def test_scales_of_one_and_zero():
    u, r, p = torch.randn(3, 1, 4, 2, 2).unbind(0)
    assert torch.allclose(paper_guidance(u, r, p, 1.0, 0.0), r)
    assert torch.allclose(official_guidance(u, r, p, 1.0, 1.0), (r + p) / 2)


def test_unknown_guidance_is_named():
    with pytest.raises(ValueError, match="'classic'"):
        get_guidance("classic")
