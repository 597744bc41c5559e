"""Pure views of the contrastive objectives (survey 3.1.5): replaced-token shading, sentence pairs and InfoNCE scores.

ELECTRA (Clark et al. 2020), NSP / SOP (Devlin et al. 2019; Lan et al. 2020), InfoNCE (van den Oord et al. 2018): data in,
HTML or a plotly figure out. The widgets of chapter 08 (ptmlab.widgets.contrastive) show them."""

from __future__ import annotations

import html
from collections.abc import Sequence


def shade(p: float) -> str:
    """White (0) to vermilion (1): e.g. the discriminator's probability that a token was replaced."""
    p = min(1.0, max(0.0, float(p)))
    r, g, b = (round(255 + (c - 255) * p) for c in (213, 94, 0))
    return f"rgb({r},{g},{b})"


def replaced_token_html(
    tokens: Sequence[str],
    probabilities: Sequence[float],
    replaced: Sequence[bool] | None = None,
    originals: Sequence[str] | None = None,
    title: str = "",
) -> str:
    """Tokens shaded by P(replaced); truly replaced tokens (when known) get a thick outline and show the original.

    A pure function: tokens, probabilities in [0, 1] and optional gold flags in, an HTML string out."""
    if len(tokens) != len(probabilities) or (replaced is not None and len(replaced) != len(tokens)):
        raise ValueError("tokens, probabilities and replaced must have the same length")
    chips = []
    for i, (token, p) in enumerate(zip(tokens, probabilities)):
        was_replaced = bool(replaced[i]) if replaced is not None else False
        original = originals[i] if originals is not None else None
        tip = f"P(replaced) = {p:.2f}"
        if was_replaced and original is not None:
            tip += f"; the generator wrote this instead of '{original}'"
        border = "3px solid #000" if was_replaced else "1px solid #ccc"
        colour = "#fff" if p > 0.6 else "#222"
        below = (f"<div style='font-size:70%;color:#555'>was: {html.escape(original)}</div>"
                 if was_replaced and original is not None else "")  # fmt: skip
        chips.append(
            f"<span class='ptmlab-rtd-token' title='{html.escape(tip)}' style='display:inline-block;text-align:center;"
            f"margin:2px;vertical-align:top'><span style='background:{shade(p)};color:{colour};border:{border};"
            f"border-radius:4px;padding:1px 5px;font-family:monospace'>{html.escape(token)}</span>"
            f"<div style='font-size:70%;color:#777'>{p:.2f}</div>{below}</span>"
        )
    legend = ("<small>shade = the discriminator's P(replaced), white 0 → vermilion 1; thick outline = the generator "
              "really replaced this token</small>" if replaced is not None else
              "<small>shade = the discriminator's P(replaced), white 0 → vermilion 1</small>")  # fmt: skip
    heading = f"<div style='font-weight:600;margin:4px 0'>{html.escape(title)}</div>" if title else ""
    return f"<div class='ptmlab-rtd'>{heading}<div>{''.join(chips)}</div><div>{legend}</div></div>"


def rtd_corruption_html(
    original: Sequence[str], shown: Sequence[str], replaced: Sequence[bool], masked: Sequence[bool], title: str = ""
) -> str:
    """One ELECTRA draw in the corruption view: generator-replaced tokens as REPLACED, masked slots where the generator
    happened to sample the original as UNCHANGED (the discriminator must call them original)."""
    from ptmlab.objectives.base import Op
    from ptmlab.viz.corruption import corruption_html

    specials = {"[CLS]", "[SEP]", "[PAD]"}
    record = [
        Op.SPECIAL if o in specials else Op.REPLACED if r else Op.UNCHANGED if m else Op.KEPT
        for o, r, m in zip(original, replaced, masked)
    ]
    return corruption_html(list(original), list(shown), [int(op) for op in record], title)


# ============================================================================ sentence pairs in the corruption view
PAIR_VERDICTS = {
    ("nsp", 1): "positive: B is the sentence after A",
    ("nsp", 0): "negative: B is a random sentence from another document",
    ("sop", 1): "positive: A and B in order",
    ("sop", 0): "negative: A and B swapped",
    ("none", 1): "a pair in order (no sentence task)",
}


def pair_corruption_html(objective, tokenizer, pairs, seed: int = 0) -> str:
    """The corruption view of sentence pairs from `make_pairs` ([n, 3, seq]): MLM's masks and the pair's negative
    (an inserted sentence for NSP, moved sentences for SOP), one view per pair with its label as the heading."""
    import torch

    from ptmlab.objectives.sentence import IDS
    from ptmlab.viz.corruption import corruption_html

    batch = objective.corrupt(pairs, torch.Generator().manual_seed(seed))
    parts = []
    for row in range(len(pairs)):
        length = int((pairs[row, IDS] != tokenizer.pad_id).sum())
        label = int(batch.extra["sentence_labels"][row])
        verdict = PAIR_VERDICTS.get((getattr(objective, "kind", "none"), label), f"label {label}")
        parts.append(corruption_html(tokenizer.convert_ids_to_tokens(pairs[row, IDS, :length].tolist()),
                                     tokenizer.convert_ids_to_tokens(batch.input_ids[row, :length].tolist()),
                                     batch.record[row, :length].tolist(), f"{objective.name}: {verdict}"))  # fmt: skip
    return "".join(parts)


def pair_judgement_html(rows: list[dict]) -> str:
    """A small table: each model's P(positive) for A→B and B→A (rows as chapters.contrastive.pair_judgement gives)."""
    cells = "".join(
        f"<tr><td>{html.escape(r['model'])}</td><td style='background:{shade(1 - r['a_then_b'])}'>{r['a_then_b']:.2f}"
        f"</td><td style='background:{shade(1 - r['b_then_a'])}'>{r['b_then_a']:.2f}</td></tr>"
        for r in rows
    )
    return ("<table class='ptmlab-pairs' style='border-collapse:collapse'><tr><th>model</th><th>P(positive | A then B)"
            "</th><th>P(positive | B then A)</th></tr>" + cells + "</table><small>positive = 'B follows A' (NSP) / "
            "'in order' (SOP); redder = more sure the pair is a negative</small>")  # fmt: skip


def score_matrix_figure(scores, title: str = "InfoNCE: every masked sentence scored against every n-gram"):
    """A heatmap of the [n, n] in-batch scores; the positives sit on the diagonal (a pure function of the matrix)."""
    import plotly.graph_objects as go

    z = scores.tolist() if hasattr(scores, "tolist") else scores
    n = len(z)
    figure = go.Figure(go.Heatmap(z=z, x=[f"n-gram {j}" for j in range(n)], y=[f"sentence {i}" for i in range(n)],
                                  colorscale="Viridis", colorbar=dict(title="cos / t")))  # fmt: skip
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(title=title, height=360, margin=dict(l=10, r=10, t=40, b=10))
    return figure


# ============================================================================ one objective in the corruption view
def contrast_view(
    objective_name: str, tokenizer, documents, seed: int = 0, document: int = 0, pair_len: int = 64
) -> str:
    """The corruption view of one of chapter 08's objectives on a world document (a pure function of its inputs).

    "rtd": what the generator reads (the masked slots it will fill); "infonce": the masked n-gram (the local view);
    "nsp" / "sop": a pair from the document, drawn as a negative or a positive by `seed`, with MLM's masks."""
    from ptmlab.errors import InputError
    from ptmlab.objectives.contrastive import InfoNCEObjective
    from ptmlab.objectives.rtd import ReplacedTokenDetection
    from ptmlab.objectives.sentence import SentencePairObjective, make_pairs
    from ptmlab.viz.corruption import show_corruption

    vocab = tokenizer.vocab_size
    if objective_name in ("nsp", "sop"):
        pairs = make_pairs(documents, tokenizer, pair_len, objective_name, seed=seed)
        return pair_corruption_html(SentencePairObjective(vocab, objective_name), tokenizer,
                                    pairs[document % len(pairs)][None], seed)  # fmt: skip
    objectives = {"rtd": ReplacedTokenDetection(vocab), "infonce": InfoNCEObjective(vocab)}
    if objective_name not in objectives:
        raise InputError(f"Unknown objective {objective_name!r}.", fix="Use rtd, infonce, nsp or sop.")
    sentences = [s.text for doc in documents for s in doc.sentences]
    return show_corruption(objectives[objective_name], tokenizer, sentences[document % len(sentences)], seed).data
