"""Turning sentences into fixed-length blocks of token ids for pre-training.

Packs consecutive sentences into full blocks ("FULL-SENTENCES" in Liu et al. 2019, RoBERTa Table 2), so little compute
is spent on padding: [CLS] s1 [SEP] s2 [SEP] ... cut at the block length."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ptmlab.data.tokenizers import Tokenizer
from ptmlab.errors import InputError


def pack_sentences(tokenizer: Tokenizer, sentences: Sequence[str], block_len: int) -> torch.Tensor:
    """Return a LongTensor [n_blocks, block_len]: each row [CLS] ... [SEP], sentences separated by [SEP]."""
    if block_len < 4:
        raise InputError(f"block_len={block_len} is too short.", fix="Use at least 8 tokens per block.")
    stream: list[int] = []
    for sentence in sentences:
        ids = tokenizer.encode(sentence, add_special_tokens=False)
        if ids:
            stream.extend(ids)
            stream.append(tokenizer.sep_id)
    body = block_len - 2
    n_blocks = len(stream) // body
    if n_blocks == 0:
        raise InputError(
            f"The text has {len(stream)} tokens: not enough for one block of {block_len}.",
            fix="Give more text, or use a shorter block length.",
        )
    data = torch.tensor(stream[: n_blocks * body], dtype=torch.long).view(n_blocks, body)
    cls = torch.full((n_blocks, 1), tokenizer.cls_id, dtype=torch.long)
    sep = torch.full((n_blocks, 1), tokenizer.sep_id, dtype=torch.long)
    return torch.cat([cls, data, sep], dim=1)


def spread_blocks(tokenizer: Tokenizer, documents: Sequence[Sequence[str]], block_len: int, n_blocks: int) -> torch.Tensor:
    """Up to n_blocks held-out blocks drawn round-robin across documents: the first block of every document, then the
    second, and so on, so one long article cannot fill the evaluation. Documents too short for a block are joined."""
    packed, short = [], []
    for document in documents:
        try:
            packed.append(pack_sentences(tokenizer, document, block_len))
        except InputError:
            short.extend(document)
    if short:
        try:
            packed.append(pack_sentences(tokenizer, short, block_len))
        except InputError:
            pass
    if not packed:
        raise InputError(f"The held-out text is too short for one block of {block_len}.", fix="Give more text.")
    longest = max(len(p) for p in packed)
    rows = [p[i] for i in range(longest) for p in packed if i < len(p)]
    return torch.stack(rows[:n_blocks])


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad variable-length id lists: returns (ids [batch, max_len], attention_mask [batch, max_len])."""
    if not sequences:
        raise InputError("No sequences to batch.", fix="Pass at least one encoded sentence.")
    longest = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
