"""Permutation masks as heatmaps: who may read whom in the content and the query stream of one factorization order.

Yang et al. 2019 (XLNet), Figure 1 and Section 2.3: the same sentence under different orders, drawn as attention masks
(rows: the token being computed; columns: the tokens it may read). Pure: an order in, a plotly figure or HTML out."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ptmlab.errors import InputError
from ptmlab.objectives.plm import PermutationMasks, masks_for_order

PREDICTED_COLOUR = "#0072b2"  # the corruption view's colour for Op.PREDICTED
CONTEXT_COLOUR = "#f2f2f2"


def _labels(tokens: Sequence[str], masks: PermutationMasks) -> list[str]:
    """'cat (3.)': each token with its step in the order; predicted tokens get a star."""
    return [
        f"{'★ ' if bool(masks.predicted[i]) else ''}{tok} ({int(masks.rank[i]) + 1}.)" for i, tok in enumerate(tokens)
    ]


def _masks(tokens: list[str], order: Sequence[int], n_predict: int) -> PermutationMasks:
    masks = masks_for_order(order, n_predict)
    if len(tokens) != masks.order.numel():
        raise InputError(
            f"{len(tokens)} tokens but an order over {masks.order.numel()} positions.",
            fix="Give one position per token.",
        )
    return masks


def mask_heatmaps(tokens: Sequence[str], order: Sequence[int], n_predict: int = 0, title: str = ""):
    """Side-by-side heatmaps of the content mask and the query mask of `order` over `tokens` (a plotly Figure).

    Row i, column j is filled when token i may read token j. The content stream (left) has the diagonal, the query
    stream (right) does not: that is the whole difference, and why g_i can predict x_i without having seen it.
    Rows of predicted tokens (the last n_predict of the order) are starred."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    tokens = list(tokens)
    masks = _masks(tokens, order, n_predict)
    labels = _labels(tokens, masks)  # unique even for repeated tokens (each carries its step), as plotly axes need
    figure = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.14,
        subplot_titles=("content stream h: sees itself and earlier tokens", "query stream g: sees only earlier tokens"),
    )
    for col, (name, mask) in enumerate((("content", masks.content), ("query", masks.query)), start=1):
        z = mask.int().tolist()
        hover = [
            [
                f"{name} stream of {tokens[i]!r} {'reads' if z[i][j] else 'does not read'} {tokens[j]!r}"
                for j in range(len(tokens))
            ]
            for i in range(len(tokens))
        ]
        figure.add_trace(
            go.Heatmap(
                z=z,
                x=labels,
                y=labels,
                zmin=0,
                zmax=1,
                showscale=False,
                xgap=1,
                ygap=1,
                colorscale=[[0, CONTEXT_COLOUR], [1, PREDICTED_COLOUR]],
                text=hover,
                hovertemplate="%{text}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        figure.update_yaxes(
            autorange="reversed",
            title_text="computing (row)" if col == 1 else None,
            row=1,
            col=col,
            tickfont=dict(size=11),
        )
        figure.update_xaxes(title_text="may read (column)", tickangle=-45, row=1, col=col, tickfont=dict(size=11))
    steps = " → ".join(tokens[int(p)] for p in masks.order)
    figure.update_layout(
        title=title or f"Factorization order: {steps}",
        height=260 + 22 * len(tokens),
        margin=dict(l=10, r=10, t=90, b=10),
    )
    return figure


def order_html(tokens: Sequence[str], order: Sequence[int], n_predict: int = 0) -> str:
    """The sentence in its own order, each token tagged with its step in the factorization order; predicted tokens
    in the corruption view's 'predicted' colour, with what each one conditions on."""
    tokens = list(tokens)
    masks = _masks(tokens, order, n_predict)
    chips = []
    for i, tok in enumerate(tokens):
        predicted = bool(masks.predicted[i])
        seen = [tokens[j] for j in masks.order.tolist() if bool(masks.query[i, j])]
        tip = f"step {int(masks.rank[i]) + 1}; p({tok} | {', '.join(seen) or 'nothing'})"
        style = f"background:{PREDICTED_COLOUR};color:#fff" if predicted else "background:#fff;color:#222"
        chips.append(
            f'<span title="{html.escape(tip)}" style="{style};border:1px solid #ccc;border-radius:4px;'
            f'padding:1px 5px;margin:2px;display:inline-block;font-family:monospace">{html.escape(tok)}'
            f'<sub style="opacity:.75">{int(masks.rank[i]) + 1}</sub></span>'
        )
    lines = []
    for step, position in enumerate(masks.order.tolist()):
        if bool(masks.predicted[position]):
            given = [tokens[j] for j in masks.order[:step].tolist()]
            lines.append(f"p({html.escape(tokens[position])} | {html.escape(', '.join(given)) or '∅'})")
    objective = " · ".join(lines) if lines else "nothing is predicted (n_predict = 0)"
    return (
        f"<div class='ptmlab-permutation'><div>{''.join(chips)}</div>"
        f"<div style='margin-top:4px;font-size:90%'><b>predicted</b> (blue; subscripts: step in the order): "
        f"{objective}</div></div>"
    )
