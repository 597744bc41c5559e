"""Figures and HTML of language models: the next token's distribution, ELMo's layer weights, tagged sentences.

The sampling knobs of GPT-2 (Radford et al. 2019: temperature, top-k from Fan et al. 2018) and ELMo's scalar-mix
weights (Peters et al. 2018) drawn with plotly; pure functions (ptmlab.widgets.lm wires them to ipywidgets)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

ENTITY_COLOURS = {"PER": "#56b4e9", "LOC": "#009e73", "ORG": "#e69f00", "DATE": "#cc79a7", "MISC": "#f0e442"}


def next_token_figure(distribution: Sequence[tuple[str, float]], title: str = ""):
    """A horizontal bar chart of (token, probability) pairs, most likely on top."""
    import plotly.graph_objects as go

    tokens = [t for t, _ in distribution][::-1]
    probs = [p for _, p in distribution][::-1]
    figure = go.Figure(
        go.Bar(
            x=probs,
            y=tokens,
            orientation="h",
            text=[f"{p:.1%}" for p in probs],
            textposition="auto",
            marker_color="#0072b2",
        )
    )
    figure.update_layout(
        title=title or "The next token's distribution",
        xaxis=dict(range=[0, 1], title="probability"),
        height=320,
        margin=dict(l=10, r=10, t=50, b=40),
    )
    return figure


def layer_weights_figure(
    weights: Mapping[str, Sequence[float]] | Sequence[float], title: str = "", layer_names: Sequence[str] | None = None
):
    """ELMo's s_j per layer as grouped bars: one group per layer, one bar per model (a dict name -> weights)."""
    import plotly.graph_objects as go

    series = dict(weights) if isinstance(weights, Mapping) else {"s_j": list(weights)}
    n = max(len(w) for w in series.values())
    names = list(layer_names) if layer_names else ["embeddings"] + [f"layer {j}" for j in range(1, n)]
    figure = go.Figure(
        [
            go.Bar(name=name, x=names[: len(w)], y=list(w), text=[f"{v:.2f}" for v in w], textposition="auto")
            for name, w in series.items()
        ]
    )
    figure.add_hline(y=1 / n, line_dash="dot", annotation_text="equal weights", line_color="#888")
    figure.update_layout(
        title=title or "Learned scalar-mix weights s_j (softmax over layers)",
        barmode="group",
        yaxis=dict(range=[0, 1], title="s_j"),
        height=340,
        margin=dict(l=40, r=10, t=50, b=40),
    )
    return figure


def tagged_html(tokens: Sequence[str], tags: Sequence[str], gold: Sequence[str] | None = None, title: str = "") -> str:
    """Tokens as chips coloured by entity type; B- tags get a bold left border; a tag that differs from `gold` is
    struck through in red, with the gold tag in the tooltip."""
    chips = []
    for i, (token, tag) in enumerate(zip(tokens, tags)):
        kind = tag.partition("-")[2]
        background = ENTITY_COLOURS.get(kind, "#ffffff")
        border = "border-left:3px solid #222;" if tag.startswith("B-") else ""
        wrong = gold is not None and gold[i] != tag
        style = "outline:2px solid #d55e00;text-decoration:line-through;" if wrong else ""
        tip = f"{tag}" + (f" (gold {gold[i]})" if wrong else "")
        chips.append(
            f'<span title="{html.escape(tip)}" style="background:{background};{border}{style}'
            f'border-radius:4px;padding:1px 4px;margin:1px;display:inline-block;font-family:monospace">'
            f"{html.escape(token)}<sub style='color:#555'>{html.escape(tag)}</sub></span>"
        )
    heading = f"<div style='font-weight:600;width:9em;display:inline-block'>{html.escape(title)}</div>" if title else ""
    return f"<div class='ptmlab-tagged'>{heading}{''.join(chips)}</div>"


def tagging_legend_html() -> str:
    spans = "".join(
        f"<span style='background:{c};padding:1px 6px;margin:2px;border-radius:4px'>{k}</span>"
        for k, c in ENTITY_COLOURS.items()
    )
    return (
        f"<div><small>{spans} · bold left edge = B- (an entity begins) · "
        f"<span style='outline:2px solid #d55e00;text-decoration:line-through'>wrong tag</span></small></div>"
    )
