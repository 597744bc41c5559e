"""A convolutional encoder with a computable receptive field: the "convolutional model" of survey Section 2.2.

Kim 2014 (CNNs for sentences), Gehring et al. 2017 (ConvS2S), Yu & Koltun 2016 (dilated convolutions); the receptive
field is the arithmetic of Luo et al. 2016, "Understanding the Effective Receptive Field in Deep CNNs"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ptmlab.errors import InputError
from ptmlab.models.transformer import EncoderOutput


def receptive_field(kernel_sizes: Sequence[int], dilations: Sequence[int] | None = None) -> int:
    """How many input tokens one output position can see, for stacked stride-1 convolutions.

    Each layer with kernel k and dilation d widens the window by (k - 1) * d, starting from the single token itself:
    rf = 1 + sum((k_i - 1) * d_i). Three layers of kernel 3 see 1 + 2 + 2 + 2 = 7 tokens: 3 on each side."""
    kernel_sizes = list(kernel_sizes)
    dilations = [1] * len(kernel_sizes) if dilations is None else list(dilations)
    if len(dilations) != len(kernel_sizes):
        raise InputError(
            f"{len(kernel_sizes)} kernel sizes but {len(dilations)} dilations.",
            fix="Give one dilation per layer (or none, meaning 1 everywhere).",
        )
    if any(int(k) < 1 for k in kernel_sizes) or any(int(d) < 1 for d in dilations):
        raise InputError(
            f"Kernel sizes and dilations must be >= 1 (got {kernel_sizes} and {dilations}).",
            fix="Use positive integers, e.g. kernel_sizes=[3, 3, 3], dilations=[1, 2, 4].",
        )
    return 1 + sum((int(k) - 1) * int(d) for k, d in zip(kernel_sizes, dilations))


@dataclass
class CNNConfig:
    vocab_size: int = 8000
    d_model: int = 128  # the embedding size and the width of the residual stream
    n_layers: int = 3
    kernel_size: int = 3  # odd, so each window is centred on its token: it sees as far left as right
    dilations: tuple[int, ...] = ()  # one per layer; empty means 1 everywhere (a dense, short window)
    d_inner: int = 0  # channels inside each block; 0 means 2 * d_model (tuned to match other encoders' size)
    dropout: float = 0.1
    pad_id: int = 0

    def __post_init__(self) -> None:
        self.dilations = tuple(int(d) for d in self.dilations) or (1,) * self.n_layers
        if self.d_inner == 0:
            self.d_inner = 2 * self.d_model
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise InputError(
                f"kernel_size={self.kernel_size}: this encoder needs an odd kernel size.",
                fix="Use 3, 5 or 7: an odd window is centred on its token.",
            )
        if len(self.dilations) != self.n_layers:
            raise InputError(
                f"n_layers={self.n_layers} but {len(self.dilations)} dilations were given.",
                fix="Give one dilation per layer, or leave dilations empty.",
            )
        receptive_field([self.kernel_size] * self.n_layers, self.dilations)  # validates the numbers

    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        return (self.kernel_size,) * self.n_layers

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_sizes, self.dilations)

    def to_dict(self) -> dict:
        return {**asdict(self), "dilations": list(self.dilations)}


class ConvBlock(nn.Module):
    """Pre-LN residual block: x + W_out(GELU(conv_k(LN(x)))). The convolution mixes a window of neighbours; W_out
    (a 1x1 convolution) maps back to d_model so blocks stack like Transformer blocks."""

    def __init__(self, config: CNNConfig, dilation: int):
        super().__init__()
        self.norm = nn.LayerNorm(config.d_model)
        padding = dilation * (config.kernel_size - 1) // 2  # "same" length output, window centred on each token
        self.conv = nn.Conv1d(config.d_model, config.d_inner, config.kernel_size, dilation=dilation, padding=padding)
        self.out = nn.Linear(config.d_inner, config.d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        # Zero the padding before the convolution so [PAD] positions never leak into real tokens' windows.
        h = (self.norm(x) * keep).transpose(1, 2)  # Conv1d wants [batch, channels, seq]
        h = F.gelu(self.conv(h)).transpose(1, 2)
        return x + self.drop(self.out(h))


class CNNEncoder(nn.Module):
    """Embeddings, then stacked residual convolution blocks, then a LayerNorm.

    Same call as the Transformer: `encoder(input_ids, attention_mask)` -> EncoderOutput. Each output vector is a function
    of `receptive_field` input tokens only, centred on it: (receptive_field - 1) // 2 tokens each side. Anything farther
    away cannot influence it at all, however long it trains. No position embeddings: the kernels are position-aware."""

    def __init__(self, config: CNNConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(ConvBlock(config, d) for d in config.dilations)
        self.ln_final = nn.LayerNorm(config.d_model)

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    @property
    def reach(self) -> int:
        """Tokens visible on each side of a position."""
        return (self.receptive_field - 1) // 2

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_unused) -> EncoderOutput:
        if input_ids.dim() != 2 or input_ids.shape[1] == 0:
            raise InputError(
                f"Expected token ids shaped [batch, seq] with seq > 0, got {tuple(input_ids.shape)}.",
                fix="Add a batch dimension: ids[None].",
            )
        if attention_mask is None:
            keep = torch.ones(*input_ids.shape, 1, device=input_ids.device)
        else:
            keep = attention_mask.to(torch.float32)[..., None]
        x = self.drop(self.tok_emb(input_ids))
        hidden = [x]
        for block in self.blocks:
            x = block(x, keep)
            hidden.append(x)
        last = self.ln_final(x)
        hidden[-1] = last
        return EncoderOutput(last, tuple(hidden), None)
