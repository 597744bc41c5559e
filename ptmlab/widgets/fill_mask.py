"""Fill-mask app: type a sentence with [MASK], see the model's guesses as a bar chart.

The interactive face of BERT's masked-LM objective (Devlin et al. 2019); errors show as a message, not a traceback."""

from __future__ import annotations

from ptmlab.errors import PtmlabError


def predictions_figure(predictions: list[list[tuple[str, float]]], title: str = ""):
    """One horizontal bar chart per [MASK]: tokens by probability (a pure function, tested without a browser)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=len(predictions), subplot_titles=[f"[MASK] #{i + 1}" for i in
                                                                         range(len(predictions))])
    for col, guesses in enumerate(predictions, start=1):
        tokens = [t for t, _ in guesses][::-1]
        probs = [p for _, p in guesses][::-1]
        figure.add_trace(go.Bar(x=probs, y=tokens, orientation="h", text=[f"{p:.1%}" for p in probs],
                                textposition="auto", showlegend=False), row=1, col=col)
        figure.update_xaxes(range=[0, 1], title_text="probability", row=1, col=col)
    figure.update_layout(title=title or "What the model guesses for each [MASK]", height=320,
                         margin=dict(l=10, r=10, t=60, b=40))
    return figure


class FillMaskApp:
    """`FillMaskApp(model, tokenizer).display()`; `.predict(text)` updates it from code (and from the text box)."""

    def __init__(self, model, tokenizer, text: str = "The [MASK] of the united states is washington .", top_k: int = 5):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.model, self.tokenizer, self.top_k = model, tokenizer, top_k
        self.text = w.Text(value=text, description="Sentence", layout=w.Layout(width="90%"), continuous_update=False)
        self.button = w.Button(description="Predict", button_style="primary")
        self.message = w.HTML()
        self.figure = go.FigureWidget(predictions_figure([[("", 0.0)]]))
        self.button.on_click(lambda _: self.predict())
        self.text.observe(lambda change: self.predict(), names="value")
        self.widget = w.VBox([w.HBox([self.text, self.button]), self.message, self.figure])
        self.predict()

    def predict(self, text: str | None = None) -> list[list[tuple[str, float]]] | None:
        from ptmlab.inference import fill_mask

        if text is not None:
            self.text.value = text  # triggers observe -> predict again; harmless and keeps the box in sync
        try:
            predictions = fill_mask(self.model, self.tokenizer, self.text.value, self.top_k)
        except PtmlabError as err:
            self.message.value = f"<span style='color:#c0392b'>⚠️ {err.message} <i>{err.fix or ''}</i></span>"
            return None
        self.message.value = ""
        new = predictions_figure(predictions)
        with self.figure.batch_update():
            self.figure.data = []
            self.figure.layout = new.layout
            for trace in new.data:
                self.figure.add_trace(trace)
        return predictions

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self
