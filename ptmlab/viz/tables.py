"""Result figures: bars of the mean with the spread and one dot per seed, and tables (plotly, and plain text for logs).

Pure: rows of scores in, a figure or a string out; no training, no model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ptmlab.tasks.stats import summarize


def seeds_figure(
    rows: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, str],
    *,
    by: str = "objective",
    labels: Mapping[str, str] | None = None,
    colours: Mapping[str, str] | None = None,
    title: str = "",
):
    """One panel per metric ({key: title}): per group a bar at the mean with ± sd, and a dot per seed."""
    from plotly.subplots import make_subplots

    summary = summarize(rows, list(metrics), by)
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics.values()))
    for col, metric in enumerate(metrics, start=1):
        for group, stats in summary.items():
            label = (labels or {}).get(group, group)
            mean, sd, _ = stats[metric]
            figure.add_bar(
                x=[label],
                y=[mean],
                error_y=dict(type="data", array=[sd]),
                marker_color=(colours or {}).get(group, "#9ecae1"),
                showlegend=False,
                name=label,
                row=1,
                col=col,
            )
            values = [r[metric] for r in rows if r[by] == group]
            figure.add_scatter(
                x=[label] * len(values),
                y=values,
                mode="markers",
                marker=dict(color="#222", size=7),
                showlegend=False,
                name=f"{label}: seeds",
                row=1,
                col=col,
            )
        figure.update_xaxes(tickangle=-30, row=1, col=col)
    figure.update_layout(
        title=title or "bars: mean ± sd over seeds; dots: one seed each",
        height=420,
        margin=dict(l=40, r=10, t=70, b=40),
    )
    return figure


def table_figure(header: Sequence[str], rows: Sequence[Sequence[str]], title: str = ""):
    """A plotly table (pandas is not a dependency)."""
    import plotly.graph_objects as go

    figure = go.Figure(
        go.Table(
            header=dict(values=list(header), align="left"),
            cells=dict(values=[list(column) for column in zip(*rows)], align="left"),
        )
    )
    figure.update_layout(title=title, height=90 + 34 * len(rows), margin=dict(l=0, r=0, t=40 if title else 10, b=0))
    return figure


def table_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The same table as aligned plain text (logs, closing notes)."""
    body = [list(map(str, header)), *[list(map(str, r)) for r in rows]]
    widths = [max(len(r[c]) for r in body) for c in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in body)
