"""The denoising explorer: BART's five noisings side by side on your own text, and what a trained model's decoder looks at.

Interaction only: the HTML, the noising and the attention data come from ptmlab.viz.denoising (Lewis et al. 2020, BART
Figure 2; the cross-attention view follows Vig 2019, bertviz)."""

from __future__ import annotations

from collections.abc import Sequence

from ptmlab.data.tokenizers import Tokenizer
from ptmlab.errors import InputError, PtmlabError
from ptmlab.viz.denoising import (
    BART_NOISINGS,
    EXAMPLE,
    NOISING_TITLES,
    noise_text,
    noisings_html,
    readable,
    reconstruct,
    seq2seq_attention,
)
from ptmlab.widgets.base import Widget, error_html, replace_figure


# ----------------------------------------------------------------------------- the apps
class DenoisingExplorer(Widget):
    """Type a text, move the seed: the five noisings redraw side by side. With `models` ({noising: EncoderDecoder}),
    each trained model's greedy reconstruction is shown under its noising."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        text: str = EXAMPLE,
        models: dict | None = None,
        noisings: Sequence[str] = BART_NOISINGS,
    ):
        import ipywidgets as w

        self.tokenizer, self.models, self.noisings = tokenizer, models or {}, tuple(noisings)
        self.text = w.Textarea(value=text, description="Text", layout=w.Layout(width="95%", height="60px"))
        self.seed = w.IntSlider(value=0, min=0, max=50, description="seed")
        self.ratio = w.FloatSlider(value=0.3, min=0.05, max=0.6, step=0.05, description="mask ratio")
        self.output = w.HTML()
        for control in (self.text, self.seed, self.ratio):
            control.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([self.text, w.HBox([self.seed, self.ratio]), self.output])
        self.update()

    def update(self) -> str:
        try:
            reconstructions = {}
            for noising, model in self.models.items():
                if noising in self.noisings:
                    noised = noise_text(self.tokenizer, self.text.value, noising, self.seed.value, self.ratio.value)
                    reconstructions[noising] = readable(self.tokenizer, reconstruct(model, self.tokenizer, noised))
            self.output.value = noisings_html(
                self.tokenizer, self.text.value, self.seed.value, self.noisings, self.ratio.value, reconstructions
            )
        except PtmlabError as err:
            self.output.value = error_html(err)
        return self.output.value


class CrossAttentionExplorer(Widget):
    """Pick a noising (one trained model each), a layer and a head: the heatmap shows, for every token the decoder
    writes, which encoder tokens it reads. On rotated or shuffled input the decoder must look far from the diagonal."""

    def __init__(self, models: dict, tokenizer: Tokenizer, text: str = EXAMPLE):
        import ipywidgets as w
        import plotly.graph_objects as go

        if not models:
            raise InputError("No models to show.", fix="Pass {noising: trained EncoderDecoder}.")
        self.models, self.tokenizer = models, tokenizer
        first = next(iter(models.values()))
        self.noising = w.Dropdown(options=[(NOISING_TITLES.get(n, n), n) for n in models], description="noising")
        self.layer = w.IntSlider(
            value=first.config.n_layers - 1, min=0, max=first.config.n_layers - 1, description="layer"
        )
        self.head = w.IntSlider(value=0, min=0, max=first.config.n_heads - 1, description="head")
        self.seed = w.IntSlider(value=0, min=0, max=20, description="seed")
        self.text = w.Textarea(value=text, description="Text", layout=w.Layout(width="95%", height="50px"))
        self.message = w.HTML()
        self.figure = go.FigureWidget()
        for control in (self.noising, self.layer, self.head, self.seed, self.text):
            control.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox(
            [self.text, w.HBox([self.noising, self.seed]), w.HBox([self.layer, self.head]), self.message, self.figure]
        )
        self.update()

    def update(self):
        from ptmlab.viz.attention import attention_heatmap

        try:
            data = seq2seq_attention(
                self.models[self.noising.value], self.tokenizer, self.text.value, self.noising.value, self.seed.value
            )
        except PtmlabError as err:
            self.message.value = error_html(err)
            return None
        self.message.value = ""
        new = attention_heatmap(
            data["cross_attention"],
            data["decoder_tokens"],
            layer=self.layer.value,
            head=self.head.value,
            key_tokens=data["encoder_tokens"],
        )
        new.update_layout(
            title=f"Cross-attention · {NOISING_TITLES.get(self.noising.value, self.noising.value)} · "
            f"layer {self.layer.value}, head {self.head.value}",
            xaxis_title="encoder token (noised input)",
            yaxis_title="decoder input (writing the original)",
        )
        replace_figure(self.figure, new)
        return new
