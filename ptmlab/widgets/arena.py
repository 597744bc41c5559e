"""The objective arena's board: pick objectives with checkboxes and compare their curves, scores and layers.

Chapter 09 (survey Qiu et al. 2020, Section 3.1 and Table 2): every objective on one backbone and one compute budget;
the board redraws one view at a time for the objectives ticked, grouped by the survey's task types."""

from __future__ import annotations

from collections.abc import Sequence

from ptmlab.widgets.base import Widget

VIEWS = {
    "scoreboard": "scoreboard (mean ± sd, dots = seeds)",
    "curves": "learning curves vs FLOPs",
    "layers": "per-layer probe curves",
    "efficiency": "sample efficiency",
    "table": "table",
}
PRESETS_OF_KEYS = {  # quick picks: the comparisons the papers made
    "ELECTRA Table 5: all tokens vs 15%": ("mlm", "mlm_all", "rtd", "rtd_15"),
    "BART Table 1: LM, MLM, PLM, Seq2Seq, DAE": ("lm", "mlm", "plm", "mass", "dae"),
    "SpanBERT Table 6: masking units": ("mlm", "whole_word", "span", "entity"),
    "ALBERT Table 5: sentence tasks": ("mlm", "nsp", "sop"),
    "one per family": ("untrained", "lm", "mlm", "t5_span", "dae", "plm", "rtd", "sop", "infonce"),
}


class ArenaBoard(Widget):
    """`ArenaBoard(result).display()`: checkboxes per objective (grouped by family), a quick-pick menu, a view menu.

    `update()` redraws and returns the current figure (also callable without a front end, e.g. in tests)."""

    def __init__(self, result, keys: Sequence[str] | None = None, view: str = "scoreboard"):
        import ipywidgets as w

        from ptmlab.chapters.objective_arena import CONTESTANTS

        self.result = result
        chosen = set(keys or result.arms)
        self.boxes = {
            k: w.Checkbox(
                value=k in chosen, description=CONTESTANTS[k].label, indent=False, layout=w.Layout(width="190px")
            )  # fmt: skip
            for k in result.arms
        }
        families = list(dict.fromkeys(CONTESTANTS[k].family for k in result.arms))
        columns = [
            w.VBox([w.HTML(f"<b>{family}</b>"), *[b for k, b in self.boxes.items() if CONTESTANTS[k].family == family]])
            for family in families
        ]
        self.quick = w.Dropdown(options=["(pick a comparison)", *PRESETS_OF_KEYS, "all"], description="quick pick")
        self.view = w.ToggleButtons(options=[(label, key) for key, label in VIEWS.items()], value=view)
        self.message = w.HTML()
        import plotly.graph_objects as go

        self.figure_widget = (
            go.FigureWidget()
        )  # redrawn in place: no Output-widget capture, which can stall a headless kernel
        for box in self.boxes.values():
            box.observe(lambda _: self.update(), names="value")
        self.view.observe(lambda _: self.update(), names="value")
        self.quick.observe(self._quick_pick, names="value")
        self.widget = w.VBox([w.HBox(columns, layout=w.Layout(flex_flow="row wrap")), self.quick, self.view,
                              self.message, self.figure_widget])  # fmt: skip
        self._muted = False

    @property
    def selected(self) -> list[str]:
        return [k for k, box in self.boxes.items() if box.value]

    def select(self, keys: Sequence[str]) -> ArenaBoard:
        self._muted = True
        for k, box in self.boxes.items():
            box.value = k in keys
        self._muted = False
        self.update()
        return self

    def _quick_pick(self, change) -> None:
        if change["new"] == "all":
            self.select(list(self.boxes))
        elif change["new"] in PRESETS_OF_KEYS:
            self.select(PRESETS_OF_KEYS[change["new"]])

    def figure(self):
        keys = self.selected
        if not keys:
            return None
        view = self.view.value
        if view == "curves":
            return self.result.curves_figure(keys)
        if view == "layers":
            return self.result.layers_figure(keys)
        if view == "efficiency":
            return self.result.efficiency_figure(keys)
        if view == "table":
            return self.result.table_figure()
        return self.result.scoreboard_figure(keys)

    def update(self):
        if self._muted:
            return None
        figure = self.figure()
        from ptmlab.widgets.base import replace_figure

        self.message.value = "" if figure is not None else "<i>Tick at least one objective.</i>"
        if figure is not None:
            replace_figure(self.figure_widget, figure)
        return figure


def corruption_lineup(tokenizer, text: str, keys: Sequence[str] | None = None, seed: int = 0):
    """One sentence through every objective that reads plain text: what each one hides, changes or predicts."""
    from IPython.display import HTML

    from ptmlab.chapters.objective_arena import CONTESTANTS, make_contestant
    from ptmlab.viz.corruption import show_corruption

    parts = []
    for key in keys or CONTESTANTS:
        c = CONTESTANTS[key]
        if not c.objective or c.data != "blocks":
            continue  # the untrained model has no objective; pair and entity objectives need more than one sentence
        view = show_corruption(make_contestant(key, tokenizer), tokenizer, text, seed=seed, title=c.label)
        parts.append(view.data)
    return HTML("".join(parts))
