"""The reference-attention processors: stock equivalence, branch semantics, work counts."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor2_0
from PIL import Image

import manganinja.models.reference_attention as ra
from manganinja import PointPairs
from manganinja.pipeline import build_pipeline
from manganinja.models.reference_attention import (
    GUIDANCE_BRANCHES,
    Branch,
    PointEmbeddings,
    ReferenceState,
    install_reference_processors,
    self_attention_names,
)


@pytest.fixture(scope="module")
def pipe():
    return build_pipeline("tiny", seed=0)


def _inputs(seed: int = 0, size: int = 64):
    rng = np.random.default_rng(seed)
    ref = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    line = np.zeros((size, size), np.uint8)
    line[8:56:8, :] = 255
    line[:, 8:56:12] = 255
    return ref, Image.fromarray(line)


def _unet_call(unet, batch: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, 4, 8, 8, generator=g)
    context = torch.randn(batch, 1, unet.config.cross_attention_dim, generator=g)
    return unet(sample, 10, encoder_hidden_states=context).sample


def test_reader_without_layout_is_stock(pipe):
    stock = copy.deepcopy(pipe.denoising_unet)
    stock.set_attn_processor(AttnProcessor2_0())
    assert torch.equal(_unet_call(pipe.denoising_unet, 2), _unet_call(stock, 2))


def test_empty_bank_and_no_points_is_stock_in_every_branch(pipe):
    unet = copy.deepcopy(pipe.denoising_unet)
    state = ReferenceState()
    names = install_reference_processors(unet, state, "read")
    stock = copy.deepcopy(unet)
    stock.set_attn_processor(AttnProcessor2_0())
    channels = {n: unet.get_submodule(n).to_q.in_features for n in names}
    state.bank = {n: [torch.zeros(1, 0, channels[n])] for n in names}
    state.points = PointEmbeddings(target=[], reference=[[]])
    state.branches = GUIDANCE_BRANCHES
    out = _unet_call(unet, 3)
    assert torch.allclose(out, _unet_call(stock, 3), atol=1e-6, rtol=0)


def test_writer_records_norm1_output_per_block(pipe):
    unet = pipe.reference_unet
    state = pipe.reference_state
    seen = {}

    def hook(name):
        def fn(module, args, output):
            seen[name] = output

        return fn

    handles = [
        unet.get_submodule(n.removesuffix(".attn1")).norm1.register_forward_hook(hook(n))
        for n in (x.removesuffix(".processor") for x in self_attention_names(unet))
    ]
    try:
        state.clear()
        state.recording = True
        _unet_call(unet, 1)
        bank = state.bank
    finally:
        state.clear()
        for h in handles:
            h.remove()
    assert set(bank) == set(seen)
    for name, tensors in bank.items():
        assert len(tensors) == 1
        assert torch.equal(tensors[0], seen[name])


def test_each_branch_sees_what_design_says(pipe, monkeypatch):
    """Instrument the attention function: record Q/K/V inputs per block and branch."""
    calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    real = ra.attention

    def spy(attn, q, k, v, key_mask=None, **kw):
        calls.append((q, k, v))
        return real(attn, q, k, v, key_mask, **kw)

    ref, line = _inputs()
    encoding = pipe.encode_reference(ref, resolution=64)
    pts = PointPairs.from_arrays([[10, 12], [40, 30]], [[20, 22], [50, 44]])
    emb = pipe.point_embeddings(pts, encoding, (64, 64), (64, 64))
    state = pipe.reference_state
    name = "down_blocks.0.attentions.0.transformer_blocks.0.attn1"
    block = pipe.denoising_unet.get_submodule(name.removesuffix(".attn1"))
    h_in = {}
    handle = block.norm1.register_forward_hook(lambda m, a, o: h_in.__setitem__("h", o))
    monkeypatch.setattr(ra, "attention", spy)
    state.bank, state.branches, state.points = encoding.bank, GUIDANCE_BRANCHES, emb
    try:
        _unet_call(pipe.denoising_unet, 3)
    finally:
        state.clear()
        handle.remove()
    h = h_in["h"]
    # The first three calls belong to the first transformer block (down_blocks.0), one per branch.
    (q_u, k_u, v_u), (q_r, k_r, v_r), (q_p, k_p, v_p) = calls[:3]
    h_u, h_r, h_p = h.split(1)
    bank = encoding.bank[name][0]
    e_tar = emb.target[0]
    e_ref = emb.reference[0][0]
    assert e_tar.shape == h_p.shape and e_ref.shape == bank.shape
    assert e_tar.abs().sum() > 0 and e_ref.abs().sum() > 0
    # uncond: plain self-attention
    assert torch.equal(q_u, h_u) and torch.equal(k_u, h_u) and torch.equal(v_u, h_u)
    # ref: Q from h; K = V = [h, R]
    assert torch.equal(q_r, h_r)
    assert torch.equal(k_r, torch.cat([h_r, bank], 1)) and torch.equal(v_r, k_r)
    # point: Q = h + E_tar; K = [h + E_tar, R + E_ref]; V = [h, R]
    assert torch.equal(q_p, h_p + e_tar)
    assert torch.equal(k_p, torch.cat([h_p + e_tar, bank + e_ref], 1))
    assert torch.equal(v_p, torch.cat([h_p, bank], 1))
    # one call per branch per block: 3 x number of self-attention blocks, nothing more
    assert len(calls) == 3 * len(encoding.bank)


def test_branch_layout_must_divide_the_batch(pipe):
    state = pipe.reference_state
    state.branches = GUIDANCE_BRANCHES
    try:
        with pytest.raises(ValueError, match="does not split into the 3 branch groups"):
            _unet_call(pipe.denoising_unet, 2)
    finally:
        state.clear()


def test_bank_keep_masks_the_reference(pipe):
    """Training drops the reference per row with a key mask: a dropped row equals the row
    attending to an empty bank."""
    ref, _ = _inputs()
    encoding = pipe.encode_reference(ref, resolution=64)
    state = pipe.reference_state
    try:
        state.bank = {k: [v[0].expand(2, -1, -1)] for k, v in encoding.bank.items()}
        state.branches = (Branch.REF,)
        state.bank_keep = torch.tensor([True, False])
        masked = _unet_call(pipe.denoising_unet, 2)
        state.bank = {k: [v[0][:, :0].expand(2, -1, -1)] for k, v in encoding.bank.items()}
        state.bank_keep = None
        empty = _unet_call(pipe.denoising_unet, 2)
    finally:
        state.clear()
    assert torch.allclose(masked[1], empty[1], atol=1e-5)
    assert not torch.allclose(masked[0], empty[0], atol=1e-3)


def _count_calls(pipe, steps: int, pages: int = 1):
    counts: dict[str, list[int]] = {"reference_unet": [], "controlnet": [], "denoising_unet": [], "image_encoder": []}

    def hook(name):
        def fn(module, args, kwargs):
            sample = args[0] if args else next(iter(kwargs.values()))
            counts[name].append(int(sample.shape[0]))

        return fn

    handles = [getattr(pipe, n).register_forward_pre_hook(hook(n), with_kwargs=True) for n in counts]
    ref, line = _inputs()
    try:
        encoding = pipe.encode_reference(ref, resolution=64)
        for _ in range(pages):
            pipe(reference_encoding=encoding, lineart=line, num_inference_steps=steps, resolution=64, progress=False)
    finally:
        for h in handles:
            h.remove()
    return counts


@pytest.mark.parametrize("steps", [1, 3])
def test_minimum_work_per_step(pipe, steps):
    counts = _count_calls(pipe, steps)
    assert counts["reference_unet"] == [1]
    assert counts["image_encoder"] == [1]
    assert counts["controlnet"] == [2] * steps
    assert counts["denoising_unet"] == [3] * steps


def test_reference_bank_reused_across_pages(pipe):
    counts = _count_calls(pipe, steps=2, pages=3)
    assert counts["reference_unet"] == [1]
    assert counts["denoising_unet"] == [3] * 6


def test_every_attention_runs_on_sdpa(pipe, monkeypatch):
    """All attention of the U-Nets, the ControlNet and the VAE goes through
    ``torch.nn.functional.scaled_dot_product_attention`` (fused flash / memory-efficient kernels on
    a GPU), never through the explicit softmax of ``Attention.get_attention_scores``; each network
    call makes exactly the SDPA calls its processors imply."""
    from diffusers.models.attention_processor import Attention

    for name in ("reference_unet", "denoising_unet", "controlnet", "vae"):
        for key, proc in getattr(pipe, name).attn_processors.items():
            assert isinstance(proc, (ra.ReferenceWriteProcessor, ra.ReferenceReadProcessor, AttnProcessor2_0)), (name, key, proc)
    calls: list[int] = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    def explicit(*args, **kwargs):
        raise AssertionError("the explicit (non-SDPA) attention path ran")

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    monkeypatch.setattr(Attention, "get_attention_scores", explicit)
    per_call: dict[str, list[int]] = {"reference_unet": [], "denoising_unet": [], "controlnet": []}
    handles = []
    for name, counts in per_call.items():
        module = getattr(pipe, name)
        handles.append(module.register_forward_pre_hook(lambda m, a, counts=counts: counts.append(-len(calls))))
        handles.append(module.register_forward_hook(lambda m, a, o, counts=counts: counts.__setitem__(-1, counts[-1] + len(calls))))
    ref, line = _inputs()
    try:
        pipe(reference=ref, lineart=line, num_inference_steps=1, resolution=64, progress=False)
    finally:
        for h in handles:
            h.remove()
    n_self = {name: len(self_attention_names(getattr(pipe, name))) for name in per_call}
    n_all = {name: len(getattr(pipe, name).attn_processors) for name in per_call}
    assert per_call["reference_unet"] == [n_all["reference_unet"]]
    assert per_call["controlnet"] == [n_all["controlnet"]]
    # the denoising U-Net's self-attention runs once per branch (3), its cross-attention once
    assert per_call["denoising_unet"] == [n_all["denoising_unet"] + (len(GUIDANCE_BRANCHES) - 1) * n_self["denoising_unet"]]
    assert n_self["denoising_unet"] > 0 and n_all["denoising_unet"] > n_self["denoising_unet"]


def test_attention_weights_are_the_ones_attention_applies():
    """``attention_weights`` (diagnostics) gives the softmax that ``attention`` applies: its
    weights times the values, through the output projection, are ``attention``'s output, and a
    masked key gets no weight."""
    from diffusers.models.attention_processor import Attention

    torch.manual_seed(0)
    attn = Attention(query_dim=16, heads=2, dim_head=8).eval()
    q_in, kv_in = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 4:] = False
    with torch.no_grad():
        weights = ra.attention_weights(attn, q_in, kv_in, mask)
        assert weights.shape == (2, 2, 5, 7)
        assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 5))
        assert weights[1, ..., 4:].abs().max() == 0
        values = attn.to_v(kv_in).view(2, 7, 2, 8).transpose(1, 2)
        mixed = (weights @ values).transpose(1, 2).reshape(2, 5, 16)
        expected = ra.attention(attn, q_in, kv_in, kv_in, mask)
        assert torch.allclose(attn.to_out[0](mixed), expected, atol=1e-5)
        # with a logit bias: still the weights attention applies, and the masked key still gets none
        bias = torch.randn(1, 1, 5, 7) * 3
        biased = ra.attention_weights(attn, q_in, kv_in, mask, logit_bias=bias)
        assert biased[1, ..., 4:].abs().max() == 0 and not torch.allclose(biased, weights)
        mixed = (biased @ values).transpose(1, 2).reshape(2, 5, 16)
        expected = ra.attention(attn, q_in, kv_in, kv_in, mask, logit_bias=bias)
        assert torch.allclose(attn.to_out[0](mixed), expected, atol=1e-5)


def test_a_logit_bias_is_added_to_the_logits_with_the_mask_and_in_query_chunks():
    """``attention(..., logit_bias=b)`` (diagnostics) is the softmax of logits + b over the
    unmasked keys, the same in query slices; a zero bias changes nothing."""
    from diffusers.models.attention_processor import Attention

    torch.manual_seed(0)
    attn = Attention(query_dim=16, heads=2, dim_head=8).eval()
    q_in, kv_in = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 4:] = False
    bias = torch.randn(1, 1, 5, 7) * 3
    with torch.no_grad():
        plain = ra.attention(attn, q_in, kv_in, kv_in, mask)
        assert torch.allclose(ra.attention(attn, q_in, kv_in, kv_in, mask, logit_bias=torch.zeros(1, 1, 5, 7)), plain, atol=1e-6)
        biased = ra.attention(attn, q_in, kv_in, kv_in, mask, logit_bias=bias)
        assert not torch.allclose(biased, plain, atol=1e-3)
        query, key = ra._query_key(attn, q_in, kv_in)
        logits = (query @ key.transpose(-1, -2) * attn.scale + bias).masked_fill(~mask[:, None, None, :], float("-inf"))
        values = attn.to_v(kv_in).view(2, 7, 2, 8).transpose(1, 2)
        mixed = (logits.softmax(-1) @ values).transpose(1, 2).reshape(2, 5, 16)
        assert torch.allclose(attn.to_out[0](mixed), biased, atol=1e-5)
        assert torch.allclose(ra.attention(attn, q_in, kv_in, kv_in, mask, query_chunk=2, logit_bias=bias), biased, atol=1e-6)
