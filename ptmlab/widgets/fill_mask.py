"""Fill-mask app: type a sentence with [MASK], see the model's guesses as a bar chart.

The interactive face of BERT's masked-LM objective (Devlin et al. 2019); errors show as a message, not a traceback.
Interaction only: the figure is ptmlab.viz.fill_mask.predictions_figure."""

from __future__ import annotations

from ptmlab.errors import PtmlabError
from ptmlab.viz.fill_mask import predictions_figure
from ptmlab.widgets.base import Widget, error_html, replace_figure


class FillMaskApp(Widget):
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
            self.message.value = error_html(err)
            return None
        self.message.value = ""
        replace_figure(self.figure, predictions_figure(predictions))
        return predictions
