"""Chapter 04 apps: sample from a causal LM with a temperature slider; compare taggers sentence by sentence.

The sampling knobs of GPT-2 (Radford et al. 2019: temperature, top-k from Fan et al. 2018) and ELMo's layer weights
(Peters et al. 2018) drawn with plotly; each app shows a message, not a traceback, on bad input."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from ptmlab.errors import PtmlabError

ENTITY_COLOURS = {"PER": "#56b4e9", "LOC": "#009e73", "ORG": "#e69f00", "DATE": "#cc79a7", "MISC": "#f0e442"}


# ----------------------------------------------------------------------------- pure figures and HTML
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


# ----------------------------------------------------------------------------- apps
class SamplingApp:
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
            self.message.value = (
                f"<span style='color:#c0392b'>⚠️ {html.escape(err.message)} <i>{html.escape(err.fix or '')}</i></span>"
            )
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

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self


class TaggingComparisonApp:
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

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self
