"""Self-attention drawn as what it is: a fully connected, weighted graph over the tokens of one sentence.

Survey Section 2.2 (Qiu et al. 2020, Fig. 2c: "the self-attention model can be viewed as a fully-connected graph");
Vaswani et al. 2017; the graph-network reading of attention of Battaglia et al. 2018."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ptmlab.errors import InputError

_EDGE_COLOUR = (41, 128, 185)  # one hue; weight shows as width and opacity
_FOCUS_COLOUR = (192, 57, 43)


def attention_matrix(attentions: Any, layer: int = 0, head: int | str = 0) -> np.ndarray:
    """One [T, T] matrix (rows: queries, columns: keys) from the usual shapes of attention weights.

    attentions: per-layer tensors [1, H, T, T] or [H, T, T] (what `output_attentions=True` gives), a stacked
    [L, H, T, T] array, or a single [T, T] matrix. head: an index, or "mean" for the average over heads."""
    if attentions is None:
        raise InputError("No attention weights given.", fix="Run the model with output_attentions=True.")
    if isinstance(attentions, (list, tuple)):
        if not attentions:
            raise InputError("The list of attention layers is empty.", fix="Pass one tensor per layer.")
        if not 0 <= layer < len(attentions):
            raise InputError(
                f"layer={layer}, but there are {len(attentions)} layers.",
                fix=f"Pick a layer from 0 to {len(attentions) - 1}.",
            )
        weights = _to_numpy(attentions[layer])
    else:
        weights = _to_numpy(attentions)
        if weights.ndim == 4:
            if not 0 <= layer < weights.shape[0]:
                raise InputError(
                    f"layer={layer}, but there are {weights.shape[0]} layers.",
                    fix=f"Pick a layer from 0 to {weights.shape[0] - 1}.",
                )
            weights = weights[layer]
    if weights.ndim == 4:  # [1, H, T, T]: one sentence
        if weights.shape[0] != 1:
            raise InputError(
                f"Attention for {weights.shape[0]} sentences; the graph shows one.",
                fix="Index one sentence: attentions[layer][i:i+1].",
            )
        weights = weights[0]
    if weights.ndim == 3:  # [H, T, T]
        if head == "mean":
            weights = weights.mean(0)
        elif isinstance(head, (int, np.integer)) and 0 <= head < weights.shape[0]:
            weights = weights[head]
        else:
            raise InputError(
                f"head={head!r}, but there are {weights.shape[0]} heads.",
                fix=f"Pick a head from 0 to {weights.shape[0] - 1}, or 'mean'.",
            )
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise InputError(
            f"Expected square attention weights, got shape {weights.shape}.",
            fix="Pass [T, T], [H, T, T], [1, H, T, T] or a list of those per layer.",
        )
    return weights


def attention_edges(weights: Any, threshold: float = 0.0, self_loops: bool = False) -> list[tuple[int, int, float]]:
    """Every directed edge query -> key with weight >= threshold, heaviest first: [(query, key, weight)].

    With threshold 0 a sentence of T tokens gives T * (T - 1) edges (plus T self loops): every token is connected to
    every other token in one step, which is the point of self-attention (an RNN needs T steps, a CNN T / k layers)."""
    w = _to_numpy(weights)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise InputError(f"Expected a square [T, T] matrix, got shape {w.shape}.", fix="Use attention_matrix() first.")
    edges = [
        (q, k, float(w[q, k]))
        for q in range(len(w))
        for k in range(len(w))
        if (self_loops or q != k) and w[q, k] >= threshold
    ]
    return sorted(edges, key=lambda e: -e[2])


def node_positions(n: int, layout: str = "circle") -> np.ndarray:
    """[n, 2] coordinates: tokens clockwise on a circle from the top, or left to right on a line ("arc")."""
    if layout == "circle":
        angles = math.pi / 2 - 2 * math.pi * np.arange(n) / max(n, 1)
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if layout == "arc":
        return np.stack([np.arange(n, dtype=float), np.zeros(n)], axis=1)
    raise InputError(f"Unknown layout {layout!r}.", fix="Use 'circle' or 'arc'.")


def attention_graph(
    attentions: Any,
    tokens: Sequence[str],
    *,
    layer: int = 0,
    head: int | str = 0,
    threshold: float = 0.02,
    layout: str = "circle",
    query: int | None = None,
    n_bins: int = 6,
    title: str = "",
    height: int = 520,
):
    """A plotly figure: tokens as nodes, attention weights as edges whose width and opacity grow with the weight.

    Edges go from the attending token (query) to the attended one (key); hover the small dot in the middle of an edge for
    its weight, and a node for how much attention it receives. `query` keeps only that token's outgoing edges (e.g. the
    verb, to see which noun it looks at). Node size grows with the attention a token receives (its column sum)."""
    import plotly.graph_objects as go

    weights = attention_matrix(attentions, layer, head)
    tokens = [str(t) for t in tokens]
    n = len(weights)
    if len(tokens) != n:
        raise InputError(
            f"{len(tokens)} tokens for attention over {n} positions.",
            fix="Pass the tokens the model read, [CLS] and [SEP] included.",
        )
    if query is not None and not 0 <= query < n:
        raise InputError(f"query={query} is outside the {n} tokens.", fix=f"Pick a position from 0 to {n - 1}.")
    if n_bins < 1:
        raise InputError(f"n_bins={n_bins}.", fix="Use at least 1 bin of edge widths.")
    xy = node_positions(n, layout)
    edges = [e for e in attention_edges(weights, threshold) if query is None or e[0] == query]
    figure = go.Figure()
    # Edges are grouped into bins of similar weight: one trace per bin (plotly draws one width per trace), so a
    # 30-token sentence needs a handful of traces rather than 870.
    top = max((w for _, _, w in edges), default=1.0)
    colour = _FOCUS_COLOUR if query is not None else _EDGE_COLOUR
    for b in range(n_bins):
        low, high = top * b / n_bins, top * (b + 1) / n_bins
        group = [e for e in edges if low < e[2] <= high or (b == 0 and e[2] <= high)]
        if not group:
            continue
        xs, ys = [], []
        for q, k, _ in group:
            path = _edge_path(xy[q], xy[k], layout)
            xs.extend([*path[:, 0], None])
            ys.extend([*path[:, 1], None])
        strength = (b + 1) / n_bins
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                hoverinfo="skip",
                showlegend=False,
                line=dict(width=0.5 + 7 * strength, color=_rgba(colour, 0.08 + 0.8 * strength)),
            )
        )
    if edges:  # invisible midpoints carry each edge's hover text
        mids = np.array([_edge_path(xy[q], xy[k], layout, points=3)[1] for q, k, _ in edges])
        figure.add_trace(
            go.Scatter(
                x=mids[:, 0],
                y=mids[:, 1],
                mode="markers",
                marker=dict(size=6, color=_rgba(colour, 0.0)),
                showlegend=False,
                text=[f"{tokens[q]} ({q}) → {tokens[k]} ({k}): {w:.3f}" for q, k, w in edges],
                hovertemplate="%{text}<extra>attention</extra>",
            )
        )
    received = weights.sum(0)
    sizes = 14 + 26 * received / max(float(received.max()), 1e-9)
    node_colours = ["#c0392b" if i == query else "#34495e" for i in range(n)]
    figure.add_trace(
        go.Scatter(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers+text",
            text=tokens,
            textposition=[_text_position(p, layout) for p in xy],
            showlegend=False,
            marker=dict(size=sizes, color=node_colours, line=dict(width=1, color="white")),
            customdata=np.stack([np.arange(n), received, np.diag(weights)], axis=1),
            hovertemplate="%{text} (position %{customdata[0]:.0f})<br>attention received: %{customdata[1]:.2f}"
            "<br>attention to itself: %{customdata[2]:.2f}<extra></extra>",
        )
    )
    head_name = "mean of heads" if head == "mean" else f"head {head}"
    shown = f"{len(edges)} of {n * (n - 1)} edges ≥ {threshold:g}"
    figure.update_layout(
        title=title or f"Self-attention as a graph: layer {layer}, {head_name} ({shown})",
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
        hovermode="closest",
        xaxis=dict(visible=False),
        yaxis=dict(visible=False, scaleanchor="x" if layout == "circle" else None),
    )
    return figure


def _edge_path(start: np.ndarray, end: np.ndarray, layout: str, points: int = 15) -> np.ndarray:
    """A gently curved path from start to end (a quadratic Bezier), so edges in both directions do not overlap."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    middle = (start + end) / 2
    direction = end - start
    normal = np.array([-direction[1], direction[0]])
    if layout == "arc":  # arcs above the line, higher for farther tokens; left-to-right above, right-to-left below
        control = middle + np.array([0.0, 0.35 * direction[0]])
    else:
        control = middle + 0.12 * normal
    t = np.linspace(0, 1, points)[:, None]
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end


def _text_position(point: np.ndarray, layout: str) -> str:
    if layout == "arc":
        return "bottom center"
    x, y = point
    vertical = "top" if y > 0.3 else "bottom" if y < -0.3 else "middle"
    horizontal = "right" if x > 0.3 else "left" if x < -0.3 else "center"
    return f"{vertical} {horizontal}" if vertical != "middle" or horizontal != "center" else "top center"


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _rgba(rgb: tuple[int, int, int], alpha: float) -> str:
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.3f})"
