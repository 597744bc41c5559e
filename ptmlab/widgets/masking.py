"""Masking strategies side by side on your own sentence: which tokens BERT, whole-word, span and entity masking hide.

Interaction only: the HTML comes from ptmlab.chapters.masked_lm.comparison_html, one corruption view per strategy of
survey 3.1.2: Devlin et al. 2019 (BERT), Cui et al. 2019 (whole words), Joshi et al. 2020 (SpanBERT spans), Sun et al.
2019 (ERNIE entities). Works headless."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ptmlab.chapters.masked_lm import STRATEGY_TITLES, comparison_html
from ptmlab.errors import PtmlabError
from ptmlab.widgets.base import Widget, error_html


class MaskingComparisonApp(Widget):
    """`MaskingComparisonApp(tokenizer, "your sentence").display()`: a text box, a seed and a masking-rate slider, and
    the corruption view of every strategy. `.update()` redraws (it runs once when the app is built)."""

    def __init__(
        self,
        tokenizer,
        text: str = "By profession, Otto Blackwood is a veterinarian in Umbermoor.",
        *,
        strategies: Sequence[str] = tuple(STRATEGY_TITLES),
        seed: int = 0,
        mask_prob: float = 0.3,
    ):
        import ipywidgets as w

        self.tokenizer, self.strategies = tokenizer, tuple(strategies)
        self.text = w.Text(value=text, description="Sentence", layout=w.Layout(width="90%"), continuous_update=False)
        self.seed = w.IntSlider(value=seed, min=0, max=99, description="seed")
        self.rate = w.FloatSlider(
            value=mask_prob, min=0.05, max=0.6, step=0.05, description="mask rate", readout_format=".0%"
        )
        self.message = w.HTML()
        self.output = w.HTML()
        self.stats: dict[str, dict[str, Any]] = {}
        for control in (self.text, self.seed, self.rate):
            control.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([self.text, w.HBox([self.seed, self.rate]), self.message, self.output])
        self.update()

    def update(self) -> dict[str, dict[str, Any]] | None:
        try:
            body, self.stats = comparison_html(
                self.tokenizer,
                self.text.value,
                strategies=self.strategies,
                seed=self.seed.value,
                mask_prob=self.rate.value,
            )
        except PtmlabError as err:
            self.message.value = error_html(err)
            return None
        self.message.value = ""
        self.output.value = body
        return self.stats
