"""Chapter 03's figures and interactive contrasts: accuracy by distance, a receptive-field calculator, attention graphs.

Survey Section 2.2 (convolutional, sequential and self-attention encoders); Tang et al. 2018 (agreement contrast)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ptmlab.errors import PtmlabError


def _replace_figure(target, new) -> None:
    """Swap a FigureWidget's traces and layout for those of a freshly built figure, in one redraw."""
    with target.batch_update():
        target.data = []
        target.layout = new.layout
        for trace in new.data:
            target.add_trace(trace)


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

    from ptmlab.probe.agreement import CONDITIONS, ENCODER_COLOURS, ENCODER_NAMES, ENCODERS

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


class ReceptiveFieldExplorer:
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
        _replace_figure(self.figure, receptive_field_figure(kernels, dilations, distance=self.distance.value))
        return total

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self


class AgreementExplorer:
    """Pick encoders and a condition; the accuracy-vs-distance plot and the per-distance numbers follow."""

    def __init__(self, results: Any):
        import ipywidgets as w
        import plotly.graph_objects as go

        from ptmlab.probe.agreement import CONDITIONS, ENCODER_NAMES

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
        from ptmlab.probe.agreement import CONDITIONS, ENCODER_NAMES

        chosen = list(self.encoders.value) or list(self.results.encoders)
        conditions = list(CONDITIONS) if self.condition.value == "both" else [self.condition.value]
        _replace_figure(self.figure, self.results.figure(chosen, conditions))
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

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self


class AttentionGraphExplorer:
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
        from ptmlab.probe.agreement import attention_example
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
            self.message.value = f"<span style='color:#c0392b'>⚠️ {err.message} <i>{err.fix or ''}</i></span>"
            return None
        tick = "✅" if example["prediction"] == example["label"] else "❌"
        self.message.value = (
            f"distance {example['distance']}: the model says <b>{example['prediction']}</b>, "
            f"the subject is <b>{example['label']}</b> {tick}"
        )
        _replace_figure(self.figure, figure)
        return figure

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self


class PolysemyExplorer:
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
            self.numbers.value = f"<span style='color:#c0392b'>⚠️ {err.message}</span>"
            return None
        self.numbers.value = (
            f"{stats['n']} occurrences; self-similarity {stats['self_similarity']:.3f} (static: "
            f"1.000); same-sense pairs {stats['same_sense']:.3f} vs cross-sense "
            f"{stats['cross_sense']:.3f} (mean cosine)"
        )
        _replace_figure(self.figure, figure)
        return figure

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self
