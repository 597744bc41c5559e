"""Chapter 04 apps: sample from a causal LM with a temperature slider; compare taggers sentence by sentence.

Interaction only: the figures and HTML come from ptmlab.viz.lm; each app shows a message, not a traceback, on bad
input."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from ptmlab.errors import PtmlabError
from ptmlab.viz.lm import next_token_figure, tagged_html, tagging_legend_html
from ptmlab.widgets.base import Widget, error_html


# ----------------------------------------------------------------------------- apps
class SamplingApp(Widget):
    """`SamplingApp(model, tokenizer).display()`: a prompt, a temperature slider (0 = greedy), top-k and a seed.

    Shows a few sampled continuations and the next token's distribution at that temperature; `.update()` redraws
    from code (the sliders call it too)."""

    def __init__(
        self,
        model,
        tokenizer,
        prompt: str = "the city is",
        temperature: float = 1.0,
        top_k: int = 0,
        n_samples: int = 3,
        max_new_tokens: int = 20,
    ):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.model, self.tokenizer = model, tokenizer
        self.n_samples, self.max_new_tokens = n_samples, max_new_tokens
        self.prompt = w.Text(value=prompt, description="Prompt", layout=w.Layout(width="60%"), continuous_update=False)
        self.temperature = w.FloatSlider(
            value=temperature,
            min=0.0,
            max=2.0,
            step=0.1,
            description="temperature",
            continuous_update=False,
            readout_format=".1f",
        )
        self.top_k = w.IntSlider(value=top_k, min=0, max=50, description="top-k (0=all)", continuous_update=False)
        self.seed = w.IntText(value=0, description="seed", layout=w.Layout(width="160px"))
        self.message = w.HTML()
        self.samples = w.HTML()
        self.figure = go.FigureWidget(next_token_figure([("", 0.0)]))
        for control in (self.prompt, self.temperature, self.top_k, self.seed):
            control.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.prompt, self.seed]),
                w.HBox([self.temperature, self.top_k]),
                self.message,
                self.samples,
                self.figure,
            ]
        )
        self.update()

    def update(self) -> list[str] | None:
        from ptmlab.sampling import next_token_distribution, sample

        temperature, top_k = float(self.temperature.value), int(self.top_k.value) or None
        try:
            texts = [
                sample(
                    self.model,
                    self.tokenizer,
                    self.prompt.value,
                    temperature=temperature,
                    top_k=top_k,
                    seed=int(self.seed.value) + i,
                    max_new_tokens=self.max_new_tokens,
                )
                for i in range(1 if temperature == 0 else self.n_samples)
            ]
            distribution = next_token_distribution(self.model, self.tokenizer, self.prompt.value, temperature, top_k)
        except PtmlabError as err:
            self.message.value = error_html(err)
            return None
        self.message.value = ""
        mode = "greedy (always the most likely token)" if temperature == 0 else f"temperature {temperature:.1f}"
        items = "".join(
            f"<li><b>{html.escape(s.prompt)}</b> {html.escape(s.text)}"
            f"{' <small>[end of sentence]</small>' if s.stopped == 'sep' else ' …'}</li>"
            for s in texts
        )
        self.samples.value = f"<div><small>{mode}{f', top-{top_k}' if top_k else ''}</small><ol>{items}</ol></div>"
        new = next_token_figure(distribution, f"Next token after “{self.prompt.value}” ({mode})")
        with self.figure.batch_update():
            self.figure.data[0].x = new.data[0].x
            self.figure.data[0].y = new.data[0].y
            self.figure.data[0].text = new.data[0].text
            self.figure.layout.title = new.layout.title
        return [s.text for s in texts]


class TaggingComparisonApp(Widget):
    """Pick a held-out sentence and see each model's tags beside the gold ones (a slider and a filter).

    `results` maps a model name to its predicted tags for every sentence of `sentences` (TaggedSentence)."""

    def __init__(
        self, sentences: Sequence, results: Mapping[str, Sequence[Sequence[str]]], only_disagreements: bool = True
    ):
        import ipywidgets as w

        self.sentences, self.results = list(sentences), {k: list(v) for k, v in results.items()}
        self.only = w.Checkbox(value=only_disagreements, description="only sentences where the models disagree")
        self.index = w.IntSlider(
            value=0, min=0, max=max(0, len(self.sentences) - 1), description="sentence", continuous_update=False
        )
        self.view = w.HTML()
        self.only.observe(lambda change: self._refilter(), names="value")
        self.index.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.index, self.only]), w.HTML(tagging_legend_html()), self.view])
        self._refilter()

    def _refilter(self) -> None:
        everything = list(range(len(self.sentences)))
        if self.only.value:
            chosen = [i for i in everything if len({tuple(r[i]) for r in self.results.values()}) > 1]
            self.shown = chosen or everything
        else:
            self.shown = everything
        self.index.max = max(0, len(self.shown) - 1)
        self.index.value = min(self.index.value, self.index.max)
        self.update()

    def update(self, position: int | None = None) -> str:
        if position is not None:
            self.index.value = position
        i = self.shown[self.index.value] if self.shown else 0
        sentence = self.sentences[i]
        rows = [tagged_html(sentence.tokens, sentence.tags, title="gold")]
        rows += [
            tagged_html(sentence.tokens, tags[i], sentence.tags, title=name) for name, tags in self.results.items()
        ]
        self.view.value = f"<div><small>test sentence {i}: {html.escape(sentence.text)}</small>{''.join(rows)}</div>"
        return self.view.value
