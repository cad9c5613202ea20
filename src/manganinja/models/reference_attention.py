"""Reference attention: the reference U-Net writes a bank, the denoising U-Net reads it.

Both U-Nets are stock ``UNet2DConditionModel``; only the processors of the self-attention
(``attn1``) of every ``BasicTransformerBlock`` are replaced, with ``unet.set_attn_processor``.
Reader and writer blocks are paired by module path (the key of ``unet.attn_processors``).

Semantics (DESIGN.md). Let ``h = norm1(hidden)`` be the self-attention input of a block of the
denoising U-Net, ``R`` the bank written by the same block of the reference U-Net, ``E_tar`` and
``E_ref`` the PointNet embeddings of the line-art and reference point maps at this block's scale.
The denoising batch is made of groups of rows, one group per :class:`Branch`:

* ``UNCOND``: ordinary self-attention on ``h``.
* ``REF``:    Q from ``h``; K and V from ``concat(h, R)`` along tokens.
* ``POINT``:  Q from ``h + E_tar``; K from ``concat(h + E_tar, R + E_ref)``; V from
  ``concat(h, R)`` (points never touch V).

Which rows form which branch is stated by :attr:`ReferenceState.branches`, set by the caller
(the pipeline uses :data:`GUIDANCE_BRANCHES`); nothing is inferred from the batch size.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel


class Branch(str, enum.Enum):
    """What one group of rows of the denoising batch attends to."""

    UNCOND = "uncond"
    REF = "ref"
    POINT = "point"


#: The batch layout of guided sampling: row groups in this order (uncond, ref, point).
GUIDANCE_BRANCHES: tuple[Branch, ...] = (Branch.UNCOND, Branch.REF, Branch.POINT)


@dataclass
class PointEmbeddings:
    """PointNet outputs for one sampling call.

    ``target``: one tensor per PointNet scale, (1 or n, N_s, C_s), for the line art.
    ``reference``: per reference image, one tensor per scale, (1 or n, M_s, C_s).
    """

    target: list[torch.Tensor]
    reference: list[list[torch.Tensor]]


@dataclass
class ReferenceState:
    """State shared by the writer processors of a reference U-Net and the reader processors
    of a denoising U-Net.

    ``bank[name]`` holds, for the block at module path ``name``, one tensor per reference image,
    each (1 or n, M_k, C): the ``norm1`` output recorded while the reference U-Net ran.
    """

    bank: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    recording: bool = False
    branches: tuple[Branch, ...] | None = None
    points: PointEmbeddings | None = None
    #: Optional (rows,) bool per branch group: False drops the bank for that row (training).
    bank_keep: torch.Tensor | None = None
    #: Attention slicing: queries per slice (None = all at once). Kept by :meth:`clear`.
    query_chunk: int | None = None
    #: Diagnostics (``manganinja.training.reference_use``): called by every reader that attends
    #: over [own tokens; bank] as ``observer(name, branch, attn, query_input (B, N, C), key_input
    #: (B, N + M, C), value_input (B, N + M, C), key_mask (B, N + M) or None)``, once per
    #: bank-reading branch group (``branch``: REF or POINT) of the layout; it must not change
    #: them. Kept by :meth:`clear`.
    observer: Callable[[str, Branch, Attention, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None], None] | None = None

    def clear(self) -> None:
        self.bank = {}
        self.recording = False
        self.branches = None
        self.points = None
        self.bank_keep = None


def attention(
    attn: Attention,
    query_input: torch.Tensor,
    key_input: torch.Tensor,
    value_input: torch.Tensor,
    key_mask: torch.Tensor | None = None,
    query_chunk: int | None = None,
    logit_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-head attention with ``attn``'s projections, the operations of diffusers'
    ``AttnProcessor2_0`` for a 3-D input.

    Shapes: ``query_input`` (B, N, C), ``key_input``/``value_input`` (B, M, C),
    ``key_mask`` (B, M) bool, True = attend. Returns (B, N, C_out). ``query_chunk`` computes
    the queries in slices of that many tokens (lower peak memory, same result). ``logit_bias``
    (B or 1, heads or 1, N, M) float is added to the attention logits (diagnostics; sampling
    and training never give one).
    """
    if query_chunk is not None and query_input.shape[1] > query_chunk:
        biases = [None] * math.ceil(query_input.shape[1] / query_chunk) if logit_bias is None else logit_bias.split(query_chunk, dim=-2)
        parts = [
            attention(attn, q, key_input, value_input, key_mask, logit_bias=b)
            for q, b in zip(query_input.split(query_chunk, dim=1), biases)
        ]
        return torch.cat(parts, dim=1)
    batch = query_input.shape[0]
    query, key = _query_key(attn, query_input, key_input)
    value = _heads(attn, attn.to_v(value_input))
    mask = None if key_mask is None else key_mask[:, None, None, :]
    if logit_bias is not None:
        bias = logit_bias.to(query.dtype)
        mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=0.0, is_causal=False)
    out = out.transpose(1, 2).reshape(batch, -1, attn.heads * value.shape[-1]).to(query.dtype)
    out = attn.to_out[0](out)
    out = attn.to_out[1](out)
    if attn.residual_connection:
        out = out + query_input
    return out / attn.rescale_output_factor


def attention_weights(
    attn: Attention,
    query_input: torch.Tensor,
    key_input: torch.Tensor,
    key_mask: torch.Tensor | None = None,
    logit_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """The softmax weights that :func:`attention` applies to the values: (B, heads, N, M) for
    ``query_input`` (B, N, C) and ``key_input`` (B, M, C); ``key_mask`` (B, M) bool, True =
    attend; ``logit_bias`` (B or 1, heads or 1, N, M) added to the logits, as :func:`attention`
    adds it (diagnostics; :func:`attention` itself never forms them)."""
    query, key = _query_key(attn, query_input, key_input)
    logits = query @ key.transpose(-1, -2) * attn.scale
    if logit_bias is not None:
        logits = logits + logit_bias.to(logits.dtype)
    if key_mask is not None:
        logits = logits.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    return logits.softmax(-1)


def _heads(attn: Attention, projected: torch.Tensor) -> torch.Tensor:
    """(B, T, heads * d) -> (B, heads, T, d)."""
    batch, _, inner = projected.shape
    return projected.view(batch, -1, attn.heads, inner // attn.heads).transpose(1, 2)


def _query_key(attn: Attention, query_input: torch.Tensor, key_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``attn``'s queries and keys split into heads, (B, heads, N|M, d), after ``norm_q``/``norm_k``."""
    query = _heads(attn, attn.to_q(query_input))
    key = _heads(attn, attn.to_k(key_input))
    if attn.norm_q is not None:
        query = attn.norm_q(query)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    return query, key


def _check_plain(attn: Attention) -> None:
    if attn.spatial_norm is not None or attn.group_norm is not None:
        raise NotImplementedError("reference attention supports self-attention without spatial/group norm")


class _ReferenceProcessor:
    """A diffusers attention processor on the shared :class:`ReferenceState`; ``name`` is the
    block's module path (the bank key). Subclasses implement :meth:`run` on ``(B, N, C)``."""

    def __init__(self, state: ReferenceState, name: str) -> None:
        self.state = state
        self.name = name

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        _check_plain(attn)
        return self.run(attn, hidden_states)

    def run(self, attn: Attention, hidden_states: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class ReferenceWriteProcessor(_ReferenceProcessor):
    """Self-attention of the reference U-Net that records its input ``h`` into the bank."""

    def run(self, attn: Attention, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.state.recording:
            self.state.bank.setdefault(self.name, []).append(hidden_states)
        return attention(attn, hidden_states, hidden_states, hidden_states, query_chunk=self.state.query_chunk)


class ReferenceReadProcessor(_ReferenceProcessor):
    """Self-attention of the denoising U-Net that reads the bank and the point embeddings.

    Without an active layout (``state.branches is None``) it is plain self-attention, numerically
    the stock processor's.
    """

    def run(self, attn: Attention, hidden_states: torch.Tensor) -> torch.Tensor:
        h = hidden_states
        branches = self.state.branches
        if branches is None:
            return attention(attn, h, h, h, query_chunk=self.state.query_chunk)
        if h.shape[0] % len(branches):
            raise ValueError(
                f"{self.name}: batch of {h.shape[0]} rows does not split into the "
                f"{len(branches)} branch groups {[b.value for b in branches]}"
            )
        rows = h.shape[0] // len(branches)
        groups = h.split(rows)
        outputs = []
        for branch, group in zip(branches, groups):
            outputs.append(self._branch(attn, Branch(branch), group))
        return torch.cat(outputs) if len(outputs) > 1 else outputs[0]

    # -- helpers ----------------------------------------------------------------------------
    def _bank(self, rows: int, channels: int) -> tuple[torch.Tensor, list[int]]:
        """The bank of this block: (rows, M, C), references concatenated along tokens."""
        banks = self.state.bank.get(self.name)
        if not banks:
            raise RuntimeError(f"{self.name}: no reference bank recorded (run the reference U-Net first)")
        banks = [b.expand(rows, -1, -1) if b.shape[0] == 1 else b for b in banks]
        for b in banks:
            if b.shape[0] != rows or b.shape[-1] != channels:
                raise ValueError(f"{self.name}: bank of shape {tuple(b.shape)} does not fit {rows} rows x {channels} channels")
        return (torch.cat(banks, dim=1) if len(banks) > 1 else banks[0]), [b.shape[1] for b in banks]

    def _key_mask(self, rows: int, n_self: int, n_bank: int, device: torch.device) -> torch.Tensor | None:
        keep = self.state.bank_keep
        if keep is None:
            return None
        if keep.shape != (rows,):
            raise ValueError(f"{self.name}: bank_keep of shape {tuple(keep.shape)} for {rows} rows")
        mask = torch.ones(rows, n_self + n_bank, dtype=torch.bool, device=device)
        mask[:, n_self:] = keep.to(device)[:, None]
        return mask

    def _branch(self, attn: Attention, branch: Branch, h: torch.Tensor) -> torch.Tensor:
        chunk = self.state.query_chunk
        if branch is Branch.UNCOND:
            return attention(attn, h, h, h, query_chunk=chunk)
        rows, tokens, channels = h.shape
        bank, bank_tokens = self._bank(rows, channels)
        mask = self._key_mask(rows, tokens, bank.shape[1], h.device)
        kv = torch.cat([h, bank], dim=1)
        if branch is Branch.REF:
            if self.state.observer is not None:
                self.state.observer(self.name, branch, attn, h, kv, kv, mask)
            return attention(attn, h, kv, kv, mask, query_chunk=chunk)
        points = self.state.points
        if points is None:
            raise RuntimeError(f"{self.name}: POINT branch without point embeddings")
        e_tar = select_embedding(points.target, tokens, channels)
        e_ref = [select_embedding(per_ref, n, channels) for per_ref, n in zip(points.reference, bank_tokens)]
        if len(e_ref) != len(bank_tokens):
            raise ValueError(f"{self.name}: {len(points.reference)} reference point embeddings for {len(bank_tokens)} banks")
        q = h if e_tar is None else h + e_tar
        ref_keys = []
        for part, e in zip(bank.split(bank_tokens, dim=1), e_ref):
            ref_keys.append(part if e is None else part + e)
        k = torch.cat([q, *ref_keys], dim=1)
        if self.state.observer is not None:
            self.state.observer(self.name, branch, attn, q, k, kv, mask)
        return attention(attn, q, k, kv, mask, query_chunk=chunk)


def select_embedding(embeddings: Sequence[torch.Tensor], tokens: int, channels: int) -> torch.Tensor | None:
    """The PointNet output whose (tokens, channels) equals a block's; ``None`` if no scale fits
    (the block then sees no point embedding, like the official code)."""
    for e in embeddings:
        if e.shape[-2] == tokens and e.shape[-1] == channels:
            return e
    return None


def self_attention_names(unet: torch.nn.Module) -> list[str]:
    """Processor keys (``...attn1.processor``) of the self-attention of every
    ``BasicTransformerBlock`` of ``unet``."""
    names = []
    for module_name, module in unet.named_modules():
        if isinstance(module, BasicTransformerBlock) and not module.only_cross_attention:
            names.append(f"{module_name}.attn1.processor")
    return names


def install_reference_processors(unet: UNet2DConditionModel, state: ReferenceState, role: str) -> list[str]:
    """Install writer (``role="write"``) or reader (``role="read"``) processors on the
    self-attention of every transformer block of ``unet`` and stock ``AttnProcessor2_0``
    everywhere else. Returns the module paths used as bank keys."""
    if role not in ("write", "read"):
        raise ValueError(f"role must be 'write' or 'read', got {role!r}")
    cls = ReferenceWriteProcessor if role == "write" else ReferenceReadProcessor
    targets = set(self_attention_names(unet))
    processors = {}
    for key in unet.attn_processors:
        processors[key] = cls(state, key.removesuffix(".processor")) if key in targets else AttnProcessor2_0()
    unet.set_attn_processor(processors)
    return sorted(k.removesuffix(".processor") for k in targets)
