"""What a masked language model guesses for each [MASK], as bar charts (pure: predictions in, figure out).

The figure of BERT's masked-LM objective (Devlin et al. 2019) that ptmlab.widgets.fill_mask redraws as you type."""

from __future__ import annotations


def predictions_figure(predictions: list[list[tuple[str, float]]], title: str = ""):
    """One horizontal bar chart per [MASK]: tokens by probability (a pure function, tested without a browser)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=1, cols=len(predictions), subplot_titles=[f"[MASK] #{i + 1}" for i in range(len(predictions))]
    )
    for col, guesses in enumerate(predictions, start=1):
        tokens = [t for t, _ in guesses][::-1]
        probs = [p for _, p in guesses][::-1]
        figure.add_trace(go.Bar(x=probs, y=tokens, orientation="h", text=[f"{p:.1%}" for p in probs],
                                textposition="auto", showlegend=False), row=1, col=col)  # fmt: skip
        figure.update_xaxes(range=[0, 1], title_text="probability", row=1, col=col)
    figure.update_layout(title=title or "What the model guesses for each [MASK]", height=320,
                         margin=dict(l=10, r=10, t=60, b=40))  # fmt: skip
    return figure
