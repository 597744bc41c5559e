"""Using a trained model on one sentence: fill-mask predictions, attention weights and word vectors.

The same calls serve notebooks, widgets and the CLI; each checks its input and explains a mistake in plain words."""

from __future__ import annotations

import torch

from ptmlab.data.tokenizers import Tokenizer, encode_for_model
from ptmlab.errors import InputError


def _encode(model, tokenizer: Tokenizer, text: str, truncate: bool = False) -> torch.Tensor:
    ids = encode_for_model(tokenizer, text, max_len=model.config.max_len, truncate=truncate)
    device = next(model.parameters()).device
    return torch.tensor([ids], device=device)


@torch.no_grad()
def fill_mask(model, tokenizer: Tokenizer, text: str, top_k: int = 5) -> list[list[tuple[str, float]]]:
    """For each [MASK] in `text`, the top_k tokens the MLM predicts with their probabilities."""
    if isinstance(text, str) and text.strip() and "[MASK]" not in text:
        raise InputError("The sentence has no [MASK] to fill.", fix="Write [MASK] where a word should be predicted, "
                         "e.g. 'The city is the [MASK] of the country.'")
    ids = _encode(model, tokenizer, text)
    positions = ids == tokenizer.mask_id
    model.eval()
    out = model(ids, torch.ones_like(ids), predict_positions=positions)
    probs = out.extras["logits"].float().softmax(-1)
    probs[:, : len(tokenizer.special_ids)] = 0  # never propose [PAD], [MASK], ... as a word
    values, indices = probs.topk(top_k, dim=-1)
    return [[(tokenizer.id_to_token(i), float(p)) for p, i in zip(v.tolist(), ix.tolist())]
            for v, ix in zip(values, indices)]


@torch.no_grad()
def attention_for_text(model, tokenizer: Tokenizer, text: str) -> tuple[list[torch.Tensor], list[str]]:
    """Per-layer attention weights [1, heads, T, T] and the T token strings, ready for the attention views."""
    ids = _encode(model, tokenizer, text)
    model.eval()
    body = getattr(model, "body", model)
    out = body(ids, torch.ones_like(ids), output_attentions=True)
    return [a.cpu() for a in out.attentions], tokenizer.convert_ids_to_tokens(ids[0].tolist())


def word_vectors(model, tokenizer: Tokenizer, words: list[str] | None = None, limit: int = 400):
    """Input embedding vectors of whole-word tokens: (vectors [n, d], labels). Defaults to the first `limit`
    alphabetic vocabulary entries of 3+ letters."""
    vocab = tokenizer.vocab
    if words is None:
        words = [t for t, i in sorted(vocab.items(), key=lambda kv: kv[1])
                 if t.isalpha() and len(t) >= 3 and not t.startswith("##")][:limit]
    present = [w for w in words if w in vocab]
    if not present:
        raise InputError("None of the words is a whole token in this vocabulary.",
                         fix="Pick frequent words, or leave `words` empty to use the vocabulary's own.")
    weight = getattr(model, "body", model).tok_emb.weight.detach().cpu()
    return weight[[vocab[w] for w in present]], present
