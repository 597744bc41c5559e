"""The Objective interface shared by every pre-training task (survey Section 3.1, Table 1).

An objective is a pure, seeded `corrupt()` that turns clean token ids into model inputs, targets and a record of what
happened to each token, plus a `loss()`; keeping the two apart makes corruption testable by its statistics and drawable."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import IntEnum

import torch


class Op(IntEnum):
    """What a corruption did to one token; the corruption view colours tokens by these."""

    KEPT = 0  # untouched and not predicted
    MASKED = 1  # replaced by [MASK] and predicted
    REPLACED = 2  # replaced by another token and predicted
    UNCHANGED = 3  # chosen for prediction but left as it was (BERT's 10%)
    DELETED = 4
    PERMUTED = 5
    ROTATED = 6
    INSERTED = 7
    SPECIAL = 8  # [CLS], [SEP], padding: never corrupted
    PREDICTED = 9  # not corrupted in the input, but a prediction target (LM, PLM)


@dataclass
class Corruption:
    """The output of `Objective.corrupt`: everything one training step needs, on any device."""

    input_ids: torch.Tensor  # [batch, seq] what the model reads
    targets: torch.Tensor  # [batch, seq] what it should predict (meaningful where loss_mask)
    loss_mask: torch.Tensor  # [batch, seq] bool: positions that count in the loss
    attention_mask: torch.Tensor  # [batch, seq] 1 for real tokens, 0 for padding
    record: torch.Tensor  # [batch, seq] Op codes, aligned with the ORIGINAL tokens
    original_ids: torch.Tensor | None = None  # [batch, seq] the clean tokens the record refers to
    decoder_input_ids: torch.Tensor | None = None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> Corruption:
        moved = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                value = value.to(device, non_blocking=True)
            elif isinstance(value, dict):
                value = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in value.items()}
            moved[f.name] = value
        return Corruption(**moved)

    @property
    def n_predicted(self) -> int:
        return int(self.loss_mask.sum())


@dataclass
class LossOutput:
    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


class Objective:
    """Base class: subclasses set the metadata and implement `corrupt` and `loss`."""

    name: str = "objective"
    section: str = ""  # the survey section, e.g. "3.1.2"
    paper: str = ""
    idea: str = ""

    def corrupt(
        self, token_ids: torch.Tensor, generator: torch.Generator, attention_mask: torch.Tensor | None = None
    ) -> Corruption:
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: Corruption) -> LossOutput:
        raise NotImplementedError

    def build_model(self, config):  # the model this objective trains, from a TransformerConfig
        raise NotImplementedError

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "section": self.section, "paper": self.paper, "idea": self.idea}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, survey {self.section})"


def special_positions(token_ids: torch.Tensor, special_ids: list[int] | tuple[int, ...]) -> torch.Tensor:
    """Bool mask of [CLS]/[SEP]/[PAD]/... positions, which no objective may corrupt."""
    return torch.isin(token_ids, torch.tensor(list(special_ids), device=token_ids.device))
