"""BART's five noisings side by side on your own text, and what a trained encoder-decoder writes and looks at.

Lewis et al. 2020 (BART, Figure 2 draws the same five noisings); the cross-attention view follows Vig 2019 (bertviz).
Pure functions: HTML and data in, HTML and data out (tested without a browser); ptmlab.widgets.denoising wires them to
ipywidgets."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ptmlab.data.tokenizers import SEP, Tokenizer
from ptmlab.errors import InputError
from ptmlab.objectives.base import Op
from ptmlab.viz.corruption import COLOURS
from ptmlab.viz.corruption import _chip as corruption_chip

BART_NOISINGS = ("token_masking", "token_deletion", "text_infilling", "sentence_permutation", "document_rotation")
NOISING_TITLES = {
    "token_masking": "Token masking",
    "token_deletion": "Token deletion",
    "text_infilling": "Text infilling",
    "sentence_permutation": "Sentence permutation",
    "document_rotation": "Document rotation",
    "token_shuffling": "Token shuffling (T5 deshuffling)",
}
EXAMPLE = (
    "Otto Blackwood is a veterinarian. He was born in Umbermoor. He works for Saltmarsh Farms. "
    "Today he lives in Karvossa."
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\[SEP\]\s*")


def encode_document(tokenizer: Tokenizer, text: str, max_len: int = 128) -> list[int]:
    """[CLS] s1 [SEP] s2 [SEP] ...: sentences end at . ! ? (or where you typed [SEP]), as in the pre-training blocks."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("The text is empty.", fix=f"Type a few sentences, e.g. {EXAMPLE!r}")
    ids = [tokenizer.cls_id]
    for sentence in (s for s in _SENTENCE_END.split(text.strip()) if s.strip()):
        ids += tokenizer.encode(sentence, add_special_tokens=False) + [tokenizer.sep_id]
    content = [i for i in ids if i not in (tokenizer.cls_id, tokenizer.sep_id)]
    if not content:
        raise InputError("The text has no words, only separators.", fix="Type a sentence.")
    if all(i == tokenizer.unk_id for i in content):
        raise InputError(
            f"Every word of {text[:60]!r} is unknown to this tokenizer.",
            fix="Use words from the world's documents (names, cities, professions).",
        )
    if len(ids) > max_len:
        raise InputError(
            f"The text is {len(ids)} tokens long; the model takes at most {max_len}.",
            fix="Shorten the text (two to five sentences is plenty).",
        )
    return ids


@dataclass
class NoisedText:
    """One noising of one text: what happened to each original token, and what the encoder reads."""

    noising: str
    original: list[str]
    record: list[int]  # Op per original token
    inputs: list[str]  # the encoder's tokens
    input_ops: list[int]  # for each encoder token: the Op of the original token it came from (MASKED for a [MASK])
    inserted: int  # 0-length spans of text infilling: a [MASK] with nothing behind it
    original_ids: list[int]
    input_ids: list[int]


def noise_text(
    tokenizer: Tokenizer,
    text: str,
    noising: str | Sequence[str],
    seed: int = 0,
    mask_ratio: float = 0.3,
    max_len: int = 128,
) -> NoisedText:
    """Apply one noising (or several, in order) to a user's text with a seeded generator."""
    from ptmlab.objectives.dae import DenoisingAutoencoder

    ids = torch.tensor([encode_document(tokenizer, text, max_len)])
    objective = DenoisingAutoencoder(noising, mask_ratio=mask_ratio)
    batch = objective.corrupt(ids, torch.Generator().manual_seed(seed))
    record = batch.record[0].tolist()
    sources = batch.extra["source_index"][0].tolist()
    input_ids = batch.input_ids[0][batch.attention_mask[0].bool()].tolist()
    input_ops = [record[s] if s >= 0 else int(Op.MASKED) for s in sources[: len(input_ids)]]
    # a token that stayed where it was keeps its colour off the input row unless it was masked
    return NoisedText(
        noising="+".join([noising] if isinstance(noising, str) else list(noising)),
        original=tokenizer.convert_ids_to_tokens(ids[0].tolist()),
        record=record,
        inputs=tokenizer.convert_ids_to_tokens(input_ids),
        input_ops=input_ops,
        inserted=int(batch.extra["insertions"].sum()),
        original_ids=ids[0].tolist(),
        input_ids=input_ids,
    )


def _chip(text: str, op: int) -> str:
    """One token of the corruption view (ptmlab.viz.corruption), coloured by its Op, the Op's meaning on hover."""
    return corruption_chip(text, Op(op), COLOURS[Op(op)][1])


def noisings_html(
    tokenizer: Tokenizer,
    text: str,
    seed: int = 0,
    noisings: Sequence[str] = BART_NOISINGS,
    mask_ratio: float = 0.3,
    reconstructions: dict[str, str] | None = None,
) -> str:
    """The noisings side by side: for each, the original coloured by what happened and what the encoder reads.

    reconstructions: optional {noising: text} written by trained models, shown as a third line."""
    rows = []
    for noising in noisings:
        noised = noise_text(tokenizer, text, noising, seed, mask_ratio)
        top = "".join(_chip(t, op) for t, op in zip(noised.original, noised.record))
        bottom = "".join(_chip(t, op) for t, op in zip(noised.inputs, noised.input_ops))
        extra = f" · {noised.inserted} inserted [MASK]" if noised.inserted else ""
        recon = ""
        if reconstructions and noising in reconstructions:
            recon = f"<div><small>decoder writes</small> <code>{html.escape(reconstructions[noising])}</code></div>"
        title = NOISING_TITLES.get(noising, noising)
        rows.append(
            f"<tr><td style='vertical-align:top;padding:6px;font-weight:600;white-space:nowrap'>{title}"
            f"<br><small style='font-weight:400'>{len(noised.inputs)} of {len(noised.original)} tokens{extra}</small></td>"
            f"<td style='padding:6px'><div><small>original</small> {top}</div>"
            f"<div><small>encoder reads</small> {bottom}</div>{recon}</td></tr>"
        )
    used = [Op.MASKED, Op.DELETED, Op.PERMUTED, Op.ROTATED, Op.SPECIAL]
    legend = " ".join(_chip(COLOURS[op][1], op) for op in used)
    return (
        f"<div class='ptmlab-denoising'><table style='border-collapse:collapse'>{''.join(rows)}</table>"
        f"<div style='margin-top:4px'><small>{legend} · the decoder always writes the whole original</small></div>"
        "</div>"
    )


def seq2seq_mlm_html(objective, tokenizer: Tokenizer, text: str, seed: int = 0, title: str = "") -> str:
    """MASS or T5 span corruption on a text: the original coloured by the record, what the encoder reads, and what
    the decoder must write (T5's sentinels <X0>, <X1>, ... show as the tokenizer decodes them)."""
    ids = torch.tensor([encode_document(tokenizer, text, 10_000)])
    batch = objective.corrupt(ids, torch.Generator().manual_seed(seed))
    original = tokenizer.convert_ids_to_tokens(ids[0].tolist())
    top = "".join(_chip(t, op) for t, op in zip(original, batch.record[0].tolist()))
    inputs = tokenizer.convert_ids_to_tokens(batch.input_ids[0][batch.attention_mask[0].bool()].tolist())
    hidden = {tokenizer.mask_token} | {t for t in inputs if t.startswith("<X")}
    middle = "".join(_chip(t, Op.MASKED if t in hidden else Op.KEPT) for t in inputs)
    target = tokenizer.convert_ids_to_tokens(batch.targets[0][batch.loss_mask[0]].tolist())
    bottom = "".join(_chip(t, Op.PREDICTED) for t in target)
    heading = title or f"{objective.name} ({objective.paper}): {len(target)} decoder targets"
    return (
        f"<div class='ptmlab-seq2seq-mlm'><div style='font-weight:600'>{html.escape(heading)}</div>"
        f"<div><small>original</small> {top}</div><div><small>encoder reads</small> {middle}</div>"
        f"<div><small>decoder writes</small> {bottom}</div></div>"
    )


# ----------------------------------------------------------------------------- using a trained model
@torch.no_grad()
def reconstruct(model, tokenizer: Tokenizer, noised: NoisedText, max_new_tokens: int | None = None) -> list[int]:
    """Greedy decoding of the original from the noised input; the first [PAD] ends the text (as in training)."""
    device = next(model.parameters()).device
    ids = torch.tensor([noised.input_ids], device=device)
    limit = min(model.config.max_len - 1, max_new_tokens or len(noised.original_ids) + 8)
    out = model.generate(
        ids,
        max_new_tokens=limit,
        bos_id=tokenizer.cls_id,
        eos_id=tokenizer.pad_id,
        suppress_ids=(tokenizer.mask_id, tokenizer.unk_id, tokenizer.cls_id),
    )[0].tolist()
    return [t for t in out if t != tokenizer.pad_id]


def readable(tokenizer: Tokenizer, ids: Sequence[int]) -> str:
    """Token ids as one line of text, [SEP] shown where a sentence ends."""
    return " ".join(SEP if i == tokenizer.sep_id else tokenizer.id_to_token(i) for i in ids)


def seq2seq_attention(model, tokenizer: Tokenizer, text: str, noising: str, seed: int = 0) -> dict:
    """Encoder, decoder and cross-attention when the model rewrites the noised text (teacher-forced on the original),
    with the token strings: the keyword arguments of ptmlab.viz.attention.head_view / model_view."""
    from ptmlab.models.seq2seq import cross_attention_for

    noised = noise_text(tokenizer, text, noising, seed, max_len=model.config.max_len)
    device = next(model.parameters()).device
    encoder_ids = torch.tensor([noised.input_ids], device=device)
    decoder_ids = torch.tensor([noised.original_ids[:-1]], device=device)  # [CLS] x1 ... : predicts x1 ... [SEP]
    weights = cross_attention_for(model, encoder_ids, decoder_ids)
    return {
        **weights,
        "encoder_tokens": noised.inputs,
        "decoder_tokens": tokenizer.convert_ids_to_tokens(decoder_ids[0].tolist()),
    }


def cross_attention_view(
    model,
    tokenizer: Tokenizer,
    text: str = EXAMPLE,
    noising: str = "sentence_permutation",
    seed: int = 0,
    kind: str = "head",
):
    """bertviz's head (or model) view of encoder, decoder and cross-attention for a noised text."""
    from ptmlab.viz.attention import head_view, model_view

    if kind not in ("head", "model"):
        raise InputError(f"kind={kind!r}.", fix="Use 'head' or 'model'.")
    data = seq2seq_attention(model, tokenizer, text, noising, seed)
    return (head_view if kind == "head" else model_view)(**data)
