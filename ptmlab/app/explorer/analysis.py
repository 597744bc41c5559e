"""The explorer's analysis of one sentence for a loaded model, pure (no widgets): attention (encoder, decoder and
cross-attention), predictions (fill-mask, next tokens, replaced tokens), a pre-training objective's corruption, and the
input embeddings' neighbours and projection. Vig (2019, bertviz); Smilkov et al. (2016, Embedding Projector)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ptmlab.app.explorer.menu import LoadedModel
from ptmlab.errors import InputError, PtmlabError

EXAMPLE_SENTENCE = "the city is the capital of the country ."
VIEW_KINDS = ("head", "model", "neuron")
PREDICTION_TOP_K = 3
NEIGHBOURS_K = 5
BACKGROUND_WORDS = 150  # vocabulary points drawn around the sentence in the projector, for orientation

# Pre-training objectives whose corruption the explorer can draw for a ptmlab tokenizer (name -> builder(vocab_size)).
# Lambdas so the objective modules load only when used.
OBJECTIVES: dict[str, Callable[[int], Any]] = {
    "MLM (BERT: 15% masked, 80/10/10)": lambda v: _objective("ptmlab.objectives.mlm", "MaskedLM", v),
    "LM (GPT: predict every next token)": lambda v: _objective("ptmlab.objectives.lm", "CausalLM"),
    "PLM (XLNet: permuted order)": lambda v: _objective("ptmlab.objectives.plm", "PermutedLM"),
    "DAE (BART: text infilling)": lambda v: _objective(
        "ptmlab.objectives.dae", "DenoisingAutoencoder", "text_infilling"
    ),
}
DEFAULT_OBJECTIVE = next(iter(OBJECTIVES))


def _objective(module: str, name: str, *args: Any) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)(*args)


# ----------------------------------------------------------------------------- analysing one sentence
@dataclass
class Analysis:
    """Everything the app draws for one sentence and one model."""

    loaded: LoadedModel
    sentence: str
    ids: list[int]
    tokens: list[str]
    attentions: list[Any]  # per layer [1, heads, T, T]
    predictions_title: str = ""
    prediction_rows: list[dict[str, Any]] = field(default_factory=list)
    corruption: str = ""  # HTML
    projector: Any = None  # plotly Figure (2-D)
    points: tuple[Any, list[str], list[str]] | None = None  # (vectors, labels, groups) behind the projector
    neighbours: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what could not be shown, and why (not errors)
    decoder_attentions: list[Any] | None = None  # encoder-decoders: the decoder reading the sentence shifted right
    cross_attentions: list[Any] | None = None
    decoder_tokens: list[str] | None = None


def encode(loaded: LoadedModel, sentence: str) -> list[int]:
    """Token ids for the sentence, with the model's special tokens, refusing empty, all-unknown and too-long text."""
    if loaded.backend == "ptmlab":
        from ptmlab.data.tokenizers import encode_for_model

        return encode_for_model(loaded.tokenizer, sentence, max_len=loaded.max_len)
    if not isinstance(sentence, str) or not sentence.strip():
        raise InputError("The sentence is empty.", fix="Type a sentence, for example 'the cat sat on the mat .'")
    tokenizer = loaded.tokenizer
    ids = tokenizer(sentence)["input_ids"]
    specials = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    content = [i for i in ids if i not in specials]
    if content and tokenizer.unk_token_id is not None and all(i == tokenizer.unk_token_id for i in content):
        raise InputError(
            f"Every token of {sentence[:60]!r} is unknown to this model's tokenizer.",
            fix="Type words the model knows (this model reads English).",
        )
    if len(ids) > loaded.max_len:
        raise InputError(
            f"The sentence is {len(ids)} tokens long; this model takes at most {loaded.max_len}.",
            fix="Shorten the sentence.",
        )
    return list(ids)


def tokens_of(loaded: LoadedModel, ids: Sequence[int]) -> list[str]:
    return list(loaded.tokenizer.convert_ids_to_tokens(list(ids)))


def analyse(loaded: LoadedModel, sentence: str, *, objective: str = DEFAULT_OBJECTIVE, seed: int = 0) -> Analysis:
    """Attention, predictions, the objective's corruption and the projector for one sentence.

    Bad input raises a PtmlabError (InputError for the sentence). Parts a model cannot show (a sentence encoder has no
    predictions) are explained in `notes` instead."""
    import torch

    ids = encode(loaded, sentence)
    analysis = Analysis(loaded, sentence, ids, tokens_of(loaded, ids), [])
    with torch.no_grad():
        _attention(analysis)
        _predictions(analysis)
    draw_corruption(analysis, objective, seed)
    _projector(analysis)
    return analysis


def _input_tensor(loaded: LoadedModel, ids: Sequence[int]):
    import torch

    device = next(loaded.model.parameters()).device
    return torch.tensor([list(ids)], device=device)


def _attention(analysis: Analysis) -> None:
    import torch

    loaded = analysis.loaded
    ids = _input_tensor(loaded, analysis.ids)
    if loaded.family == "encoder-decoder":
        attentions = _encoder_decoder_attention(analysis, ids)
    elif loaded.backend == "ptmlab":
        # An MLM's own forward (XLM's TLM sets its language and per-sentence positions there); otherwise the body alone.
        reader = loaded.model if loaded.family == "mlm" else _body(loaded.model)
        try:
            out = reader(ids, torch.ones_like(ids), output_attentions=True)
        except TypeError as err:
            raise PtmlabError(
                f"{type(loaded.model).__name__} does not return attention weights.",
                fix="Pick a Transformer run (MLM or LM).",
            ) from err
        attentions = out.attentions
        if attentions is None:  # a recurrent model (ELMo's biLM): nothing to draw, the other sections still work
            analysis.notes.append(
                f"Attention: {type(loaded.model).__name__} is not a Transformer (it has no attention weights), so the "
                "attention views are empty; its predictions and embeddings are below."
            )
            return
    else:
        out = loaded.model(input_ids=ids, output_attentions=True)
        attentions = getattr(out, "attentions", None)
    if not attentions or any(a is None for a in attentions):
        raise PtmlabError("The model returned no attention weights.", fix="Load it with eager attention.")
    analysis.attentions = [a.detach().float().cpu() for a in attentions]


def _body(model: Any) -> Any:
    """The encoder a ptmlab model reads text with: `.body` (heads on a Transformer), `.encoder` (span QA), or itself."""
    for name in ("body", "encoder"):
        inner = getattr(model, name, None)
        if inner is not None and hasattr(inner, "tok_emb"):
            return inner
    return model


def _encoder_decoder_attention(analysis: Analysis, ids) -> list[Any]:
    """Teacher-forced pass of an encoder-decoder on the sentence: the decoder reads it shifted right behind its start
    token (as BART's denoising does when nothing is corrupted). Fills the decoder and cross-attention of `analysis`;
    returns the encoder's self-attention."""
    import torch

    loaded = analysis.loaded
    if loaded.backend == "ptmlab":
        start = loaded.tokenizer.cls_id
    else:
        config = loaded.model.config
        start = getattr(config, "decoder_start_token_id", None)
        start = start if start is not None else getattr(config, "bos_token_id", None) or 0
    decoder_ids = torch.cat([torch.full_like(ids[:, :1], start), ids[:, :-1]], dim=1)
    if loaded.backend == "ptmlab":
        out = loaded.model(ids, torch.ones_like(ids), decoder_input_ids=decoder_ids, output_attentions=True)
    else:
        out = loaded.model(input_ids=ids, decoder_input_ids=decoder_ids, output_attentions=True)
    analysis.decoder_attentions = [a.detach().float().cpu() for a in out.decoder_attentions]
    analysis.cross_attentions = [a.detach().float().cpu() for a in out.cross_attentions]
    analysis.decoder_tokens = tokens_of(loaded, decoder_ids[0].tolist())
    analysis.notes.append(
        "Encoder-decoder model: the head and model views show the encoder's self-attention, the decoder's (causal) "
        "self-attention and its cross-attention to the encoder; pick which in the view's menu. The decoder reads the "
        "sentence shifted one token right."
    )
    return list(out.encoder_attentions)


def attention_view(analysis: Analysis, kind: str = "head"):
    """The bertviz view ('head', 'model' or 'neuron') of the analysed sentence, as an offline AttentionView.

    For encoder-decoders the head and model views get bertviz's encoder / decoder / cross-attention selector."""
    from ptmlab.viz.attention import head_view, model_view, neuron_view

    if kind not in VIEW_KINDS:
        raise InputError(f"Unknown attention view {kind!r}.", fix=f"Use one of {', '.join(VIEW_KINDS)}.")
    if not analysis.attentions:
        raise InputError(
            f"{type(analysis.loaded.model).__name__} has no attention weights to draw (it is not a Transformer).",
            fix="Pick a Transformer run (MLM, LM, ELECTRA, BART...) to see attention; the other sections work.",
        )
    if kind in ("head", "model") and analysis.decoder_attentions is not None:
        view = head_view if kind == "head" else model_view
        return view(encoder_attention=analysis.attentions, decoder_attention=analysis.decoder_attentions,
                    cross_attention=analysis.cross_attentions, encoder_tokens=analysis.tokens,
                    decoder_tokens=analysis.decoder_tokens)  # fmt: skip
    if kind == "head":
        return head_view(analysis.attentions, analysis.tokens)
    if kind == "model":
        return model_view(analysis.attentions, analysis.tokens)
    if kind == "neuron":
        loaded = analysis.loaded
        if loaded.family == "encoder-decoder":
            raise InputError("The neuron view is not available for encoder-decoder models.", fix="Use the head view.")
        model_type = "gpt2" if loaded.family == "causal" else "bert"
        return neuron_view(loaded.model, loaded.tokenizer, analysis.sentence, model_type=model_type)
    raise InputError(f"Unknown attention view {kind!r}.", fix=f"Use one of {', '.join(VIEW_KINDS)}.")


def _special_ids(loaded: LoadedModel) -> set[int]:
    tokenizer = loaded.tokenizer
    return set(tokenizer.special_ids if loaded.backend == "ptmlab" else tokenizer.all_special_ids)


def _mask_id(loaded: LoadedModel) -> int | None:
    tokenizer = loaded.tokenizer
    return tokenizer.mask_id if loaded.backend == "ptmlab" else tokenizer.mask_token_id


def _logits(loaded: LoadedModel, ids, positions=None):
    """Vocabulary logits [n, V] at the positions (bool mask [B, T]) for MLMs, [B, T, V] for LMs."""
    import torch

    mask = torch.ones_like(ids)
    if loaded.backend == "ptmlab":
        if loaded.family == "mlm":
            return loaded.model(ids, mask, predict_positions=positions).extras["logits"]
        return loaded.model(ids, mask).extras["logits"]
    logits = loaded.model(input_ids=ids, attention_mask=mask).logits
    return logits[positions] if positions is not None else logits


def _top(probs, loaded: LoadedModel, k: int) -> list[tuple[str, float]]:
    values, indices = probs.topk(k)
    return list(zip(tokens_of(loaded, indices.tolist()), values.tolist()))


def _predictions(analysis: Analysis) -> None:
    """Fill-mask for MLMs ([MASK] in the sentence: those; otherwise each word masked in turn), next tokens for LMs."""
    import torch

    loaded = analysis.loaded
    if loaded.family == "rtd":
        _replaced_token_probabilities(analysis)
        return
    if loaded.family == "encoder-decoder":
        analysis.notes.append(
            "Predictions: the explorer draws predictions for masked and left-to-right language models and ELECTRA; "
            "for an encoder-decoder it shows the three attentions and the embeddings."
        )
        return
    if loaded.family not in ("mlm", "causal"):
        what = type(loaded.model).__name__ if loaded.backend == "ptmlab" else "this model"
        analysis.notes.append(
            f"Predictions: {what} has no language-model head the explorer reads (it reads masked and left-to-right "
            "language models and ELECTRA), so no words are predicted here."
        )
        return
    ids = _input_tensor(loaded, analysis.ids)
    specials = _special_ids(loaded)
    mask_id = _mask_id(loaded)
    never = torch.tensor(sorted(specials), device=ids.device)
    if loaded.family == "mlm":
        content = [i for i, t in enumerate(analysis.ids) if t not in specials or t == mask_id]
        masked_given = [i for i in content if analysis.ids[i] == mask_id]
        if masked_given:
            positions = ids == mask_id
            probs = _logits(loaded, ids, positions).float().softmax(-1)
            probs[:, never] = 0
            analysis.predictions_title = "What the model guesses for each [MASK]"
            for position, row in zip(masked_given, probs):
                analysis.prediction_rows.append(
                    {
                        "position": position,
                        "token": "[MASK]",
                        "p_token": None,
                        "guesses": _top(row, loaded, PREDICTION_TOP_K + 2),
                    }
                )
            return
        # No [MASK] typed: hide each word in turn (one row of the batch per word) and ask for it back.
        batch = ids.repeat(len(content), 1)
        positions = torch.zeros_like(batch, dtype=torch.bool)
        for row, position in enumerate(content):
            batch[row, position] = mask_id
            positions[row, position] = True
        probs = _logits(loaded, batch, positions).float().softmax(-1)
        probs[:, never] = 0
        analysis.predictions_title = (
            "Each word hidden in turn ([MASK]): the model's guesses and its probability for the word"
        )
        for row, position in enumerate(content):
            true_id = analysis.ids[position]
            analysis.prediction_rows.append(
                {
                    "position": position,
                    "token": analysis.tokens[position],
                    "p_token": float(probs[row, true_id]),
                    "guesses": _top(probs[row], loaded, PREDICTION_TOP_K),
                }
            )
        return
    probs = _logits(loaded, ids).float().softmax(-1)[0]
    analysis.predictions_title = (
        "At each position, the next tokens the model expects (and its probability for the real one)"
    )
    last = len(analysis.ids) - 1
    while last > 0 and analysis.ids[last] in specials:  # predict after the last real word, not after [SEP] / </s>
        last -= 1
    for position in range(last + 1):
        following = analysis.ids[position + 1] if position + 1 <= last else None
        analysis.prediction_rows.append(
            {
                "position": position,
                "token": analysis.tokens[position],
                "next": analysis.tokens[position + 1] if following is not None else "(after the sentence)",
                "p_token": float(probs[position, following]) if following is not None else None,
                "guesses": _top(probs[position], loaded, PREDICTION_TOP_K),
            }
        )


def _replaced_token_probabilities(analysis: Analysis) -> None:
    """ELECTRA's discriminator: for every token, the probability that it is not the original (swap a word to test)."""
    loaded = analysis.loaded
    ids = _input_tensor(loaded, analysis.ids)
    probabilities = loaded.model.replaced_probabilities(ids)[0].tolist()
    specials = _special_ids(loaded)
    analysis.predictions_title = (
        "For each token, the discriminator's probability that it was replaced (type a wrong word to see it flagged)"
    )
    for position, (token_id, p) in enumerate(zip(analysis.ids, probabilities)):
        if token_id not in specials:
            analysis.prediction_rows.append(
                {"position": position, "token": analysis.tokens[position], "p_token": None, "p_replaced": p}
            )


def predictions_html(analysis: Analysis) -> str:
    """The predictions as an HTML table (tokens escaped)."""
    if not analysis.prediction_rows:
        return ""
    first = analysis.prediction_rows[0]
    causal, replaced = "next" in first, "p_replaced" in first
    if replaced:
        header = ["position", "token", "p(replaced)"]
    else:
        header = ["position", "token"] + (["next token"] if causal else []) + ["p(real token)", "model's top guesses"]
    lines = []
    for row in analysis.prediction_rows:
        cells = [str(row["position"]), html.escape(row["token"])]
        if replaced:
            cells.append(f"{row['p_replaced']:.1%}")
        else:
            if causal:
                cells.append(html.escape(row["next"]))
            cells.append("" if row["p_token"] is None else f"{row['p_token']:.1%}")
            cells.append(", ".join(f"<b>{html.escape(t)}</b> {p:.1%}" for t, p in row["guesses"]))
        lines.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in header)
    return (
        f"<div class='ptmlab-predictions'><b>{html.escape(analysis.predictions_title)}</b>"
        f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}"
        "</tbody></table></div>"
    )


def draw_corruption(analysis: Analysis, objective: str, seed: int) -> None:
    """What a pre-training objective would do to this sentence (drawn with ptmlab.viz.corruption), into
    `analysis.corruption`; the app redraws it when the objective or the seed changes."""
    import torch

    from ptmlab.viz.corruption import corruption_html

    loaded = analysis.loaded
    if objective not in OBJECTIVES:
        raise InputError(f"Unknown objective {objective!r}.", fix=f"Pick one of: {', '.join(OBJECTIVES)}.")
    vocab_size = loaded.tokenizer.vocab_size if loaded.backend == "ptmlab" else len(loaded.tokenizer)
    if loaded.backend == "ptmlab":
        built = OBJECTIVES[objective](vocab_size)
    elif _mask_id(loaded) is None:  # GPT-2-like tokenizers have no mask token to corrupt with
        analysis.corruption = note_html(
            ["This model's tokenizer has no mask token, so MLM corruption cannot be drawn."]
        )
        return
    elif objective == DEFAULT_OBJECTIVE:
        from ptmlab.objectives.mlm import MaskedLM

        built = MaskedLM(vocab_size, mask_id=_mask_id(loaded), special_ids=tuple(sorted(_special_ids(loaded))))
    else:
        analysis.corruption = note_html(["With a Hugging Face tokenizer the explorer draws the MLM corruption only."])
        return
    ids = torch.tensor([analysis.ids])
    batch = built.corrupt(ids, torch.Generator().manual_seed(seed))
    corrupted = tokens_of(loaded, batch.input_ids[0].tolist())
    record = batch.record[0].tolist()
    predicted = int(batch.loss_mask.sum()) if batch.loss_mask is not None else 0
    title = f"{objective}, seed {seed}: {predicted} of the {len(analysis.ids)} tokens are predicted"
    analysis.corruption = corruption_html(analysis.tokens, corrupted, record, title)


def _embedding_matrix(loaded: LoadedModel):
    if loaded.backend == "ptmlab":
        return _body(loaded.model).tok_emb.weight.detach().float().cpu()
    return loaded.model.get_input_embeddings().weight.detach().float().cpu()


def _vocabulary(loaded: LoadedModel) -> list[str]:
    if loaded.backend == "ptmlab":
        return [t for t, _ in sorted(loaded.tokenizer.vocab.items(), key=lambda kv: kv[1])]
    return list(loaded.tokenizer.convert_ids_to_tokens(list(range(len(loaded.tokenizer)))))


def _projector(analysis: Analysis) -> None:
    """The sentence's tokens (input embeddings) with their nearest vocabulary neighbours and a sample of the vocabulary
    for orientation, projected with PCA; neighbours by cosine over the whole vocabulary."""
    import torch

    loaded = analysis.loaded
    weight = _embedding_matrix(loaded)
    vocabulary = _vocabulary(loaded)[: len(weight)]
    specials = _special_ids(loaded) | {loaded.tokenizer.unk_id if loaded.backend == "ptmlab" else -1}
    sentence_ids = list(dict.fromkeys(i for i in analysis.ids if i not in specials))
    if not sentence_ids:
        analysis.notes.append("Projector: the sentence has no ordinary tokens to place.")
        return
    unit = torch.nn.functional.normalize(weight, dim=-1)
    cosine = unit[sentence_ids] @ unit.T  # [n_sentence, V]
    cosine[:, sorted(i for i in specials if 0 <= i < len(weight))] = -2.0
    cosine[torch.arange(len(sentence_ids)), torch.tensor(sentence_ids)] = -2.0  # a word is not its own neighbour
    values, indices = cosine.topk(min(NEIGHBOURS_K, len(weight) - 1), dim=-1)
    neighbour_ids: list[int] = []
    for token_id, row_values, row_indices in zip(sentence_ids, values.tolist(), indices.tolist()):
        analysis.neighbours[vocabulary[token_id]] = [(vocabulary[i], v) for i, v in zip(row_indices, row_values)]
        neighbour_ids += [i for i in row_indices if i not in sentence_ids and i not in neighbour_ids]
    words = [i for i, t in enumerate(vocabulary) if t.isalpha() and len(t) >= 3 and i not in specials]
    step = max(1, len(words) // BACKGROUND_WORDS)
    background = [i for i in words[::step][:BACKGROUND_WORDS] if i not in sentence_ids and i not in neighbour_ids]
    point_ids = sentence_ids + neighbour_ids + background
    analysis.points = (
        weight[point_ids],
        [vocabulary[i] for i in point_ids],
        ["sentence"] * len(sentence_ids) + ["neighbour"] * len(neighbour_ids) + ["vocabulary sample"] * len(background),
    )
    analysis.projector = projector_figure(analysis)


def projector_figure(analysis: Analysis, dims: int = 2):
    """PCA of the sentence's tokens, their neighbours and the vocabulary sample, in 2-D (SVG, draws anywhere) or 3-D
    (WebGL). None when the sentence has no ordinary token."""
    from ptmlab.viz.projector import project

    if analysis.points is None:
        return None
    vectors, labels, groups = analysis.points
    figure = project(
        vectors,
        labels,
        method="pca",
        dims=dims,
        color=groups,
        show_text=False,
        title=f"Input embeddings: the sentence's tokens, their {NEIGHBOURS_K} nearest neighbours, a vocabulary sample",
    )
    figure.update_traces(selector=dict(name="sentence"), mode="markers+text")
    return figure


def neighbours_html(analysis: Analysis) -> str:
    rows = "".join(
        f"<tr><td><b>{html.escape(token)}</b></td><td>"
        + ", ".join(f"{html.escape(n)} ({c:.2f})" for n, c in near)
        + "</td></tr>"
        for token, near in analysis.neighbours.items()
    )
    return (
        (
            "<div class='ptmlab-neighbours'><b>Nearest neighbours (cosine of input embeddings)</b>"
            f"<table><tbody>{rows}</tbody></table></div>"
        )
        if rows
        else ""
    )


def note_html(notes: Sequence[str]) -> str:
    return "".join(f"<div class='ptmlab-note' style='color:#555;margin:2px 0'>ℹ️ {html.escape(n)}</div>" for n in notes)
