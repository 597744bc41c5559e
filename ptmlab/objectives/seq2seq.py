"""Seq2Seq masked language modelling: the encoder reads a sentence with holes, the decoder writes what was hidden.

MASS (Song et al. 2019: mask one contiguous fragment of about half the sentence, predict the fragment) and T5's span
corruption (Raffel et al. 2020: 15% of tokens in spans of mean length 3, each span replaced by a sentinel <X0>, <X1>, ...;
the decoder writes each sentinel followed by its span). Survey Section 3.1.2."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ptmlab.data.tokenizers import SPECIAL_TOKENS, Tokenizer
from ptmlab.errors import InputError
from ptmlab.objectives.base import Corruption, LossOutput, Objective, Op

SENTINEL_FORMAT = "<X{}>"  # T5 calls them <extra_id_0>, ...; MASS and the survey draw them as X0, X1
SPECIAL_IDS = tuple(range(len(SPECIAL_TOKENS)))  # [PAD] [UNK] [CLS] [SEP] [MASK]
PAD_ID, CLS_ID, SEP_ID, MASK_ID = 0, 2, 3, 4


# ============================================================================ sentinel tokens
def add_sentinels(tokenizer: Tokenizer, n: int = 32) -> Tokenizer:
    """A copy of `tokenizer` whose vocabulary ends with n sentinel tokens <X0> ... <X{n-1}>, so decode() shows them.

    They are appended after the existing ids (vocab_size grows by n); a tokenizer that has them already is returned
    unchanged. The copy saves and reloads like any ptmlab tokenizer (to_dict / tokenizer_from_dict)."""
    from ptmlab.data.tokenizers import tokenizer_from_dict

    if not isinstance(n, int) or n < 1:
        raise InputError(f"n={n!r} sentinels: need a positive integer.", fix="Use e.g. n=32.")
    names = [SENTINEL_FORMAT.format(i) for i in range(n)]
    if all(name in tokenizer.vocab for name in names):
        return tokenizer
    data = tokenizer.to_dict()
    if "backend" in data:  # a Hugging Face subword tokenizer: add them as special tokens of the backend
        from tokenizers import Tokenizer as HFTokenizer

        backend = HFTokenizer.from_str(data["backend"])
        backend.add_special_tokens([name for name in names if name not in tokenizer.vocab])
        data = {**data, "backend": backend.to_str()}
    else:
        vocab = dict(data["vocab"])
        for name in names:
            vocab.setdefault(name, len(vocab))
        data = {**data, "vocab": vocab}
    return tokenizer_from_dict(data)


def sentinel_ids(tokenizer: Tokenizer) -> list[int]:
    """The ids of <X0>, <X1>, ... in this tokenizer, in order (empty if it has none: see add_sentinels)."""
    ids, i = [], 0
    while SENTINEL_FORMAT.format(i) in tokenizer.vocab:
        ids.append(tokenizer.vocab[SENTINEL_FORMAT.format(i)])
        i += 1
    return ids


# ============================================================================ shared pieces
def content_positions(row: torch.Tensor, special_ids: Sequence[int]) -> list[int]:
    """Positions of the ordinary (non-special) tokens of one row: the only ones an objective may corrupt."""
    special = set(int(s) for s in special_ids)
    return [i for i, t in enumerate(row.tolist()) if t not in special]


def pad_rows(rows: Sequence[Sequence[int]], value: int, min_width: int = 1) -> torch.Tensor:
    """Right-pad lists of ints into a LongTensor [len(rows), longest]."""
    width = max([min_width, *(len(r) for r in rows)])
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        if len(r):
            out[i, : len(r)] = torch.tensor(list(r), dtype=torch.long)
    return out


def seq2seq_loss(model, batch: Corruption) -> LossOutput:
    """Cross-entropy of the decoder's predictions on `batch.loss_mask` (teacher forcing), for every seq2seq objective.

    Metrics: token accuracy, and, when the objective marks them in extra["target_noised"], the accuracy on the tokens
    the noising touched (the interesting ones: copying the others is easy)."""
    out = model(
        batch.input_ids,
        batch.attention_mask,
        batch.decoder_input_ids,
        decoder_position_ids=batch.extra.get("decoder_position_ids"),
        predict_positions=batch.loss_mask,
    )
    logits = out.logits  # [n_predicted, vocab]
    targets = batch.targets[batch.loss_mask]
    if targets.numel() == 0:
        return LossOutput(logits.sum() * 0.0, {"accuracy": float("nan"), "n_predicted": 0})
    loss = F.cross_entropy(logits.float(), targets)
    correct = logits.argmax(-1) == targets
    metrics = {"accuracy": correct.float().mean().item(), "n_predicted": targets.numel()}
    noised = batch.extra.get("target_noised")
    if noised is not None and bool(noised[batch.loss_mask].any()):
        metrics["noised_accuracy"] = correct[noised[batch.loss_mask]].float().mean().item()
    return LossOutput(loss, metrics)


class Seq2SeqObjective(Objective):
    """Shared by MASS, T5 span corruption and the DAE: the model is an EncoderDecoder, the loss `seq2seq_loss`."""

    def loss(self, model, batch: Corruption) -> LossOutput:
        return seq2seq_loss(model, batch)

    def build_model(self, config):
        from ptmlab.models.seq2seq import EncoderDecoder

        return EncoderDecoder(config)


def _attention_mask(token_ids: torch.Tensor, attention_mask: torch.Tensor | None, pad_id: int) -> torch.Tensor:
    if token_ids.dim() != 2:
        raise InputError(
            f"Expected token ids shaped [batch, seq], got {tuple(token_ids.shape)}.", fix="Add a batch dim."
        )
    return (token_ids != pad_id).long() if attention_mask is None else attention_mask.long()


def _base_record(token_ids: torch.Tensor, special_ids: Sequence[int]) -> torch.Tensor:
    record = torch.full_like(token_ids, int(Op.KEPT))
    record[torch.isin(token_ids, torch.tensor(list(special_ids)))] = int(Op.SPECIAL)
    return record


# ============================================================================ MASS
class MASS(Seq2SeqObjective):
    name = "mass"
    section = "3.1.2"
    paper = "Song et al. 2019, MASS"
    idea = "Hide one contiguous fragment (about half the text) from the encoder; the decoder writes the fragment."

    def __init__(
        self,
        fragment_ratio: float = 0.5,
        mask_id: int = MASK_ID,
        pad_id: int = PAD_ID,
        special_ids: tuple[int, ...] = SPECIAL_IDS,
    ):
        if not 0 < fragment_ratio < 1:
            raise InputError(f"fragment_ratio={fragment_ratio} must be in (0, 1).", fix="MASS uses 0.5.")
        self.fragment_ratio, self.mask_id, self.pad_id, self.special_ids = fragment_ratio, mask_id, pad_id, special_ids

    def corrupt(self, token_ids, generator, attention_mask=None) -> Corruption:
        token_ids = token_ids.long().cpu()
        attention_mask = _attention_mask(token_ids, attention_mask, self.pad_id)
        inputs, record = token_ids.clone(), _base_record(token_ids, self.special_ids)
        dec_in, dec_pos, targets = [], [], []
        for b, row in enumerate(token_ids):
            content = content_positions(row, self.special_ids)
            n = len(content)
            if n == 0:
                dec_in.append([]), dec_pos.append([]), targets.append([])
                continue
            m = max(1, round(n * self.fragment_ratio))
            start = int(torch.randint(0, n - m + 1, (1,), generator=generator))
            fragment = content[start : start + m]
            inputs[b, fragment] = self.mask_id
            record[b, fragment] = int(Op.MASKED)
            tokens = row[fragment].tolist()
            # MASS feeds the decoder the fragment shifted right (a [MASK] first), at the fragment's own positions.
            dec_in.append([self.mask_id, *tokens[:-1]])
            dec_pos.append(fragment)
            targets.append(tokens)
        target_ids = pad_rows(targets, self.pad_id)
        return Corruption(
            input_ids=inputs,
            targets=target_ids,
            loss_mask=pad_rows([[1] * len(t) for t in targets], 0).bool(),
            attention_mask=attention_mask,
            record=record,
            original_ids=token_ids,
            decoder_input_ids=pad_rows(dec_in, self.pad_id),
            extra={"decoder_position_ids": pad_rows(dec_pos, 0)},
        )


# ============================================================================ T5 span corruption
def random_segmentation(n_items: int, n_segments: int, generator: torch.Generator) -> list[int]:
    """Split n_items into n_segments positive lengths uniformly at random (T5's `_random_segmentation`)."""
    if not 1 <= n_segments <= n_items:
        raise InputError(f"Cannot split {n_items} items into {n_segments} non-empty segments.", fix="Check the rates.")
    cuts = sorted((torch.randperm(n_items - 1, generator=generator)[: n_segments - 1] + 1).tolist())
    bounds = [0, *cuts, n_items]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def random_spans_noise_mask(
    n: int, noise_density: float, mean_span_length: float, generator: torch.Generator
) -> list[bool]:
    """T5's noise mask over n tokens: round(n * density) noise tokens in spans of mean length `mean_span_length`,
    alternating with kept runs and starting with a kept run (Raffel et al. 2020, `random_spans_noise_mask`)."""
    n_noise = min(max(round(n * noise_density), 1), n - 1)
    n_spans = max(1, min(round(n_noise / mean_span_length), n_noise, n - n_noise))
    noise = random_segmentation(n_noise, n_spans, generator)
    keep = random_segmentation(n - n_noise, n_spans, generator)
    mask: list[bool] = []
    for k, s in zip(keep, noise):
        mask += [False] * k + [True] * s
    return mask


class T5SpanCorruption(Seq2SeqObjective):
    name = "t5_span"
    section = "3.1.2"
    paper = "Raffel et al. 2020, T5"
    idea = "Replace 15% of the tokens, in spans of mean length 3, by sentinels; the decoder writes sentinel + span."

    def __init__(
        self,
        sentinel_ids: Sequence[int],
        noise_density: float = 0.15,
        mean_span_length: float = 3.0,
        bos_id: int = CLS_ID,
        eos_id: int = SEP_ID,
        pad_id: int = PAD_ID,
        special_ids: tuple[int, ...] = SPECIAL_IDS,
    ):
        if not sentinel_ids:
            raise InputError(
                "T5 span corruption needs sentinel token ids.",
                fix="tokenizer = add_sentinels(tokenizer); T5SpanCorruption(sentinel_ids(tokenizer)).",
            )
        if not 0 < noise_density < 1 or mean_span_length < 1:
            raise InputError("noise_density must be in (0, 1) and mean_span_length >= 1.", fix="T5 uses 0.15 and 3.")
        self.sentinel_ids = [int(s) for s in sentinel_ids]
        self.noise_density, self.mean_span_length = noise_density, mean_span_length
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id
        self.special_ids = tuple(special_ids) + tuple(self.sentinel_ids)

    def corrupt(self, token_ids, generator, attention_mask=None) -> Corruption:
        token_ids = token_ids.long().cpu()
        attention_mask = _attention_mask(token_ids, attention_mask, self.pad_id)
        record = _base_record(token_ids, self.special_ids)
        inputs, sources, targets = [], [], []
        for b, row in enumerate(token_ids):
            content = content_positions(row, self.special_ids)
            noisy = set()
            if len(content) >= 2:
                mask = random_spans_noise_mask(len(content), self.noise_density, self.mean_span_length, generator)
                noisy = {p for p, m in zip(content, mask) if m}
            # A span is a run of noisy positions; a [SEP] inside a run splits it (specials are never corrupted).
            ids, src, tgt, n_spans, previous_noisy = [], [], [], 0, False
            length = int(attention_mask[b].sum())
            for p in range(length):
                if p in noisy:
                    if not previous_noisy:
                        if n_spans == len(self.sentinel_ids):
                            raise InputError(
                                f"A row needs more than {len(self.sentinel_ids)} sentinels.",
                                fix="Add more sentinels (add_sentinels(tokenizer, n=...)) or use shorter blocks.",
                            )
                        sentinel = self.sentinel_ids[n_spans]
                        ids.append(sentinel), src.append(-1), tgt.append(sentinel)
                        n_spans += 1
                    tgt.append(int(row[p]))
                    record[b, p] = int(Op.MASKED)
                else:
                    ids.append(int(row[p])), src.append(p)
                previous_noisy = p in noisy
            inputs.append(ids), sources.append(src), targets.append([*tgt, self.eos_id])
        target_ids = pad_rows(targets, self.pad_id)
        decoder_inputs = pad_rows([[self.bos_id, *t[:-1]] for t in targets], self.pad_id)
        encoder_ids = pad_rows(inputs, self.pad_id)
        return Corruption(
            input_ids=encoder_ids,
            targets=target_ids,
            loss_mask=pad_rows([[1] * len(t) for t in targets], 0).bool(),
            attention_mask=(pad_rows([[1] * len(r) for r in inputs], 0)),
            record=record,
            original_ids=token_ids,
            decoder_input_ids=decoder_inputs,
            extra={"source_index": pad_rows(sources, -1)},
        )
