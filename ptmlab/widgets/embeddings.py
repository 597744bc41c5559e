"""Chapter 01's explorers: nearest neighbours, analogies (a - b + c) and a 3-D projector of word vectors.

Interaction only: the tables and figures come from ptmlab.viz.embeddings. Word2vec-style vectors (Mikolov et al. 2013)
side by side with subword vectors (Bojanowski et al. 2017), which answer words they never saw."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ptmlab.models.static import WordVectors
from ptmlab.viz.embeddings import _by_name, analogy_categories, analogy_html, neighbours_html, projector_figure
from ptmlab.widgets.base import Widget, replace_figure


class NeighboursExplorer(Widget):
    """Type a word, see its nearest neighbours in every model; unseen words show which models can still answer."""

    def __init__(self, models: Sequence[WordVectors], word: str = "king", k: int = 8):
        import ipywidgets as w

        self.models = _by_name(models)
        self.word = w.Text(value=word, description="word", continuous_update=False)
        self.k = w.IntSlider(value=k, min=1, max=20, description="k")
        self.output = w.HTML()
        for control in (self.word, self.k):
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.word, self.k]), self.output])
        self.update()

    def update(self) -> str:
        self.output.value = neighbours_html(self.models, self.word.value, self.k.value)
        return self.output.value


class AnalogyExplorer(Widget):
    """a - b + c: king - man + woman ≈ queen, paris - france + italy ≈ rome, ... in every model."""

    def __init__(self, models: Sequence[WordVectors], a: str = "king", b: str = "man", c: str = "woman", k: int = 5):
        import ipywidgets as w

        self.models = _by_name(models)
        self.a = w.Text(value=a, description="a", continuous_update=False, layout=w.Layout(width="180px"))
        self.b = w.Text(value=b, description="- b", continuous_update=False, layout=w.Layout(width="180px"))
        self.c = w.Text(value=c, description="+ c", continuous_update=False, layout=w.Layout(width="180px"))
        self.k = k
        self.output = w.HTML()
        for control in (self.a, self.b, self.c):
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.a, self.b, self.c]), self.output])
        self.update()

    def update(self) -> str:
        self.output.value = analogy_html(self.models, self.a.value, self.b.value, self.c.value, self.k)
        return self.output.value


class ProjectorExplorer(Widget):
    """Pick a model, a category from the analogy set and a projection; the 3-D cloud redraws (hover for words)."""

    def __init__(
        self, models: Sequence[WordVectors], category: str | None = None, background: int = 300, method: str = "pca"
    ):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.models = {m.name: m for m in _by_name(models)}
        first = next(iter(self.models.values()))
        self.categories = analogy_categories(first)
        names = list(self.categories)
        self.model = w.Dropdown(options=list(self.models), description="model")
        self.category = w.Dropdown(
            options=names,
            value=category if category in names else (names[0] if names else None),
            description="colour by",
        )
        self.method = w.ToggleButtons(
            options=[("PCA", "pca"), ("t-SNE", "tsne")], value=method, description="projection"
        )
        self.background = w.IntSlider(value=background, min=0, max=2000, step=100, description="+ frequent")
        self.figure = go.FigureWidget()
        for control in (self.model, self.category, self.method, self.background):
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.model, self.category]), w.HBox([self.method, self.background]), self.figure])
        self.update()

    def update(self) -> Any:
        vectors = self.models[self.model.value]
        # categories come from the first model's vocabulary; keep the words this model knows
        chosen = {
            side: [x for x in words if vectors.can_embed(x)]
            for side, words in self.categories.get(self.category.value, {}).items()
        }
        new = projector_figure(
            vectors,
            self.category.value,
            categories={self.category.value: chosen},
            background=self.background.value,
            method=self.method.value,
        )
        replace_figure(self.figure, new)
        return new
