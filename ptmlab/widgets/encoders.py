"""Chapter 03's interactive contrasts: a receptive-field calculator, accuracy by distance, attention graphs, polysemy.

Survey Section 2.2 (convolutional, sequential and self-attention encoders); Tang et al. 2018 (agreement contrast). The
figures come from ptmlab.chapters.contextual_encoders.figures and ptmlab.viz.graph; these classes hold interaction only."""

from __future__ import annotations

from typing import Any

from ptmlab.chapters.contextual_encoders import CONDITIONS, ENCODER_NAMES, attention_example
from ptmlab.chapters.contextual_encoders.figures import receptive_field_figure
from ptmlab.errors import PtmlabError
from ptmlab.widgets.base import Widget, error_html, replace_figure

_replace_figure = replace_figure  # ptmlab.widgets.arena imports this name


class ReceptiveFieldExplorer(Widget):
    """Sliders for layers, kernel size and dilation growth; shows the receptive field and whether a subject at a given
    distance is inside it. `explorer.update()` redraws from code."""

    def __init__(self, layers: int = 4, kernel: int = 3, dilation_base: int = 1, distance: int = 6):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.layers = w.IntSlider(value=layers, min=1, max=8, description="layers")
        self.kernel = w.IntSlider(value=kernel, min=1, max=9, step=2, description="kernel size")
        self.dilation = w.Dropdown(
            options=[("1 everywhere", 1), ("doubling: 1, 2, 4, ...", 2)], value=dilation_base, description="dilation"
        )
        self.distance = w.IntSlider(value=distance, min=1, max=20, description="distance")
        self.message = w.HTML()
        self.figure = go.FigureWidget()
        for control in (self.layers, self.kernel, self.dilation, self.distance):
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox(
            [w.HBox([self.layers, self.kernel]), w.HBox([self.dilation, self.distance]), self.message, self.figure]
        )
        self.update()

    def update(self) -> int:
        from ptmlab.models.convolutional import receptive_field

        kernels = [self.kernel.value] * self.layers.value
        dilations = [self.dilation.value**i for i in range(self.layers.value)]
        total = receptive_field(kernels, dilations)
        visible = (total - 1) // 2 - 1
        seen = self.distance.value <= visible
        colour = "#27ae60" if seen else "#c0392b"
        reach = f"sees the subject up to distance {visible}" if visible >= 0 else "cannot see any other token"
        self.message.value = (
            f"<b>receptive field {total} tokens</b>: the verb's vector {reach} (the subject sits distance + 1 tokens "
            f"to its left); at distance {self.distance.value} it is "
            f"<span style='color:{colour}'>{'visible' if seen else 'out of sight'}</span>."
        )
        replace_figure(self.figure, receptive_field_figure(kernels, dilations, distance=self.distance.value))
        return total


class AgreementExplorer(Widget):
    """Pick encoders and a condition; the accuracy-vs-distance plot and the per-distance numbers follow."""

    def __init__(self, results: Any):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.results = results
        self.encoders = w.SelectMultiple(
            options=[(ENCODER_NAMES[k], k) for k in results.encoders],
            value=tuple(results.encoders),
            description="encoders",
            rows=3,
        )
        self.condition = w.Dropdown(
            options=[("both", "both")] + [(c, c) for c in CONDITIONS], value="both", description="condition"
        )
        self.numbers = w.HTML()
        self.figure = go.FigureWidget()
        self.encoders.observe(lambda _change: self.update(), names="value")
        self.condition.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.encoders, self.condition]), self.figure, self.numbers])
        self.update()

    def update(self):
        chosen = list(self.encoders.value) or list(self.results.encoders)
        conditions = list(CONDITIONS) if self.condition.value == "both" else [self.condition.value]
        replace_figure(self.figure, self.results.figure(chosen, conditions))
        rows = [r for r in self.results.summary() if r["encoder"] in chosen and r["condition"] in conditions]
        cells = "".join(
            f"<tr><td>{ENCODER_NAMES[r['encoder']]}</td><td>{r['condition']}</td><td>{r['distance']}</td>"
            f"<td>{r['mean']:.3f} ± {r['sd']:.3f}</td></tr>"
            for r in rows
        )
        self.numbers.value = (
            "<details><summary>numbers (mean ± sd over seeds)</summary><table><tr><th>encoder</th>"
            f"<th>condition</th><th>distance</th><th>accuracy</th></tr>{cells}</table></details>"
        )
        return self.figure


class AttentionGraphExplorer(Widget):
    """The trained Transformer's attention on a test sentence, drawn as a graph: pick the sentence, layer and head, and
    whether to show only the verb's edges."""

    def __init__(self, results: Any, threshold: float = 0.05):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.results = results
        test = results.data.test
        longest = sorted(range(len(test)), key=lambda i: (-int(test.distances[i]), -int(test.n_attractors[i])))[:40]
        self.choices = longest
        options = [
            (f"d={int(test.distances[i])}, {int(test.n_attractors[i])} attr.: {' '.join(test.tokens[i][1:-1])[:70]}", i)
            for i in longest
        ]
        model = results.model("transformer")
        config = model.encoder.config
        self.sentence = w.Dropdown(
            options=options, value=longest[0], description="sentence", layout=w.Layout(width="95%")
        )
        self.layer = w.IntSlider(value=config.n_layers - 1, min=0, max=config.n_layers - 1, description="layer")
        self.head = w.Dropdown(
            options=[("mean of heads", "mean")] + [(f"head {h}", h) for h in range(config.n_heads)],
            value="mean",
            description="head",
        )
        self.verb_only = w.Checkbox(value=True, description="only the verb's edges")
        self.threshold = w.FloatSlider(value=threshold, min=0.0, max=0.5, step=0.01, description="min weight")
        self.message = w.HTML()
        self.figure = go.FigureWidget()
        for control in (self.sentence, self.layer, self.head, self.verb_only, self.threshold):
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox(
            [
                self.sentence,
                w.HBox([self.layer, self.head]),
                w.HBox([self.verb_only, self.threshold]),
                self.message,
                self.figure,
            ]
        )
        self.update()

    def update(self):
        from ptmlab.viz.graph import attention_graph

        try:
            example = attention_example(self.results, index=self.sentence.value)
            figure = attention_graph(
                example["attentions"],
                example["tokens"],
                layer=self.layer.value,
                head=self.head.value,
                threshold=self.threshold.value,
                query=example["verb_index"] if self.verb_only.value else None,
            )
        except PtmlabError as err:
            self.message.value = error_html(err)
            return None
        tick = "✅" if example["prediction"] == example["label"] else "❌"
        self.message.value = (
            f"distance {example['distance']}: the model says <b>{example['prediction']}</b>, "
            f"the subject is <b>{example['label']}</b> {tick}"
        )
        replace_figure(self.figure, figure)
        return figure


class PolysemyExplorer(Widget):
    """Pick a polysemous word and a projection; see its contextual vectors by sense beside its one static vector."""

    def __init__(self, result: Any):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.result = result
        self.word = w.Dropdown(options=list(result.words), value=next(iter(result.words)), description="word")
        self.method = w.ToggleButtons(options=["pca", "tsne"], value="pca", description="projection")
        self.numbers = w.HTML()
        self.figure = go.FigureWidget()
        self.word.observe(lambda _change: self.update(), names="value")
        self.method.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.word, self.method]), self.numbers, self.figure])
        self.update()

    def update(self):
        item = self.result.words[self.word.value]
        stats = item.stats()
        try:
            figure = self.result.figure(self.word.value, method=self.method.value, dims=2)
        except PtmlabError as err:
            self.numbers.value = error_html(err, fix=False)
            return None
        self.numbers.value = (
            f"{stats['n']} occurrences; self-similarity {stats['self_similarity']:.3f} (static: "
            f"1.000); same-sense pairs {stats['same_sense']:.3f} vs cross-sense "
            f"{stats['cross_sense']:.3f} (mean cosine)"
        )
        replace_figure(self.figure, figure)
        return figure
