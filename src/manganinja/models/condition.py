"""The constant unconditional context token."""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class ConditionTokens(ModelMixin, ConfigMixin):
    """Holds the unconditional cross-attention token, shape (1, 1, D).

    It is the first (BOS) token of the CLIP text encoder's last hidden state for the empty
    prompt: a constant, computed once when converting, so inference needs no text encoder.
    """

    @register_to_config
    def __init__(self, dim: int = 768) -> None:
        super().__init__()
        self.uncond = nn.Parameter(torch.zeros(1, 1, dim), requires_grad=False)

    @classmethod
    def from_text_encoder(cls, text_encoder: nn.Module, tokenizer: object) -> "ConditionTokens":
        """Compute the token with :func:`empty_prompt_token` (the encoder is not kept)."""
        token = empty_prompt_token(text_encoder, tokenizer)
        tokens = cls(dim=token.shape[-1])
        with torch.no_grad():
            tokens.uncond.copy_(token)
        return tokens

    def forward(self, batch: int = 1) -> torch.Tensor:
        """The unconditional token repeated to (batch, 1, D)."""
        return self.uncond.expand(batch, -1, -1)


@torch.no_grad()
def empty_prompt_token(text_encoder: nn.Module, tokenizer: object) -> torch.Tensor:
    """First token of the text encoder's last hidden state for ``""``, shape (1, 1, D)."""
    ids = tokenizer("", padding="do_not_pad", truncation=True, return_tensors="pt").input_ids
    hidden = text_encoder(ids.to(text_encoder.device))[0]
    return hidden[:, :1, :].float().cpu()
