"""Chapter 03's figures (pure: data in, figure out): a CNN's receptive field layer by layer, and agreement accuracy
against distance for the three encoders.

Tang et al. 2018 (the agreement contrast); survey Section 2.2 (convolutional, sequential and self-attention encoders)."""

from __future__ import annotations

from collections.abc import Sequence

from ptmlab.chapters.contextual_encoders.presets import CONDITIONS, ENCODER_COLOURS, ENCODER_NAMES, ENCODERS


def receptive_field_figure(
    kernel_sizes: Sequence[int], dilations: Sequence[int], length: int = 25, distance: int | None = None
):
    """Which input tokens reach the output at the centre, layer by layer (a pure function; rows = layers).

    A cell is lit when the centre output of the top layer depends on that position at that layer. With `distance`, the
    subject sits distance + 1 tokens left of the centre (the verb), marked in red: visible or not."""
    import plotly.graph_objects as go

    from ptmlab.models.convolutional import receptive_field

    total = receptive_field(kernel_sizes, dilations)
    length = max(length, total + 4)
    centre = length // 2
    rows, widths = [], []
    # Walk down from the top: the top output sees 1 position; each layer below widens it by (k - 1) * d.
    half = 0
    for k, d in reversed(list(zip(kernel_sizes, dilations))):
        rows.append(half)
        half += (k - 1) * d // 2
    rows.append(half)  # the input tokens
    rows = rows[::-1]  # bottom (inputs) first
    z = [[1.0 if abs(i - centre) <= h else 0.0 for i in range(length)] for h in rows]
    widths = [2 * h + 1 for h in rows]
    names = ["input tokens"] + [f"after layer {i + 1}" for i in range(len(kernel_sizes))]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(-centre, length - centre)),
            y=names,
            showscale=False,
            colorscale=[[0, "#ecf0f1"], [1, "#e67e22"]],
            xgap=2,
            ygap=2,
            hovertemplate="offset %{x}: %{z:.0f}<extra>%{y}</extra>",
        )
    )
    if distance is not None:
        offset = -(distance + 1)
        seen = abs(offset) <= (total - 1) // 2
        figure.add_annotation(
            x=offset,
            y=names[0],
            text="subject",
            showarrow=True,
            arrowhead=2,
            ay=40,
            font=dict(color="#27ae60" if seen else "#c0392b"),
        )
    figure.add_annotation(x=0, y=names[-1], text="verb", showarrow=True, arrowhead=2, ay=-30)
    figure.update_layout(
        title=f"Receptive field: {total} tokens ({(total - 1) // 2} each side); widths by layer {widths}",
        height=120 + 40 * len(names),
        margin=dict(l=90, r=10, t=50, b=30),
        xaxis=dict(title="position relative to the verb", dtick=2),
    )
    return figure


def accuracy_figure(
    summary: list[dict], cnn_visible: int, encoders: Sequence[str] | None = None, conditions: Sequence[str] = ()
):
    """The chapter's main plot from `AgreementResults.summary()` rows: accuracy vs distance, one line per encoder (mean
    over seeds, error bars and band = ± sd), one panel per condition, a dashed line after the last distance at which
    the CNN still sees the subject (`cnn_visible`) and a dotted line at chance."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    encoders = encoders or ENCODERS

    conditions = [c for c in conditions if c in CONDITIONS] or list(CONDITIONS)
    figure = make_subplots(rows=1, cols=len(conditions), shared_yaxes=True, subplot_titles=list(conditions))
    for col, condition in enumerate(conditions, start=1):
        for kind in encoders:
            rows = sorted(
                (r for r in summary if (r["encoder"], r["condition"]) == (kind, condition)), key=lambda r: r["distance"]
            )
            if not rows:
                continue
            xs, means, sds = [r["distance"] for r in rows], [r["mean"] for r in rows], [r["sd"] for r in rows]
            colour = ENCODER_COLOURS.get(kind, "#555555")
            band = go.Scatter(  # the ± sd band: upper edge, then the lower edge reversed, filled
                x=xs + xs[::-1],
                y=[m + s for m, s in zip(means, sds)] + [m - s for m, s in zip(means, sds)][::-1],
                mode="lines",
                fill="toself",
                fillcolor=_rgba(colour, 0.18),
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=kind,
            )
            line = go.Scatter(
                x=xs,
                y=means,
                mode="lines+markers",
                name=ENCODER_NAMES.get(kind, kind),
                legendgroup=kind,
                showlegend=col == 1,
                line=dict(color=colour, width=2.5),
                error_y=dict(type="data", array=sds, visible=True, thickness=1, color=colour),
                customdata=[[r["sd"], r["n_seeds"]] for r in rows],
                hovertemplate="distance %{x}: %{y:.3f} ± %{customdata[0]:.3f} (%{customdata[1]} seeds)",
            )
            figure.add_trace(band, row=1, col=col)
            figure.add_trace(line, row=1, col=col)
        figure.add_vline(x=cnn_visible + 0.5, line=dict(dash="dash", color="#e67e22", width=1), row=1, col=col)
        figure.add_hline(y=0.5, line=dict(dash="dot", color="#999", width=1), row=1, col=col)
    figure.add_annotation(
        x=cnn_visible + 0.5,
        y=0.06,
        xref="x",
        yref="y",
        text="← CNN sees the subject",
        showarrow=False,
        font=dict(color="#e67e22", size=11),
        xanchor="right",
    )
    figure.update_yaxes(range=[0, 1.08], title_text="agreement accuracy (test)", col=1)
    distances = [r["distance"] for r in summary] or [cnn_visible]
    figure.update_xaxes(title_text="distance: words between subject and verb", range=[0.5, max(distances) + 0.5])
    figure.update_layout(
        height=400,
        margin=dict(l=50, r=10, t=70, b=40),
        title="Subject-verb agreement vs distance (mean ± sd over seeds; dotted: chance)",
    )
    return figure


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"
