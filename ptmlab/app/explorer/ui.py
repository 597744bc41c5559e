"""The explorer's page (ipywidgets): model menu, sentence box, and the attention, predictions, corruption, projector
and training-replay sections, drawn from ptmlab.app.explorer.analysis. Every problem becomes a message in the page."""

from __future__ import annotations

import contextlib
import html
import sys
import traceback
from collections.abc import Callable
from typing import Any

from ptmlab.app.explorer.analysis import (
    EXAMPLE_SENTENCE,
    OBJECTIVES,
    VIEW_KINDS,
    Analysis,
    analyse,
    attention_view,
    draw_corruption,
    neighbours_html,
    note_html,
    predictions_html,
    projector_figure,
)
from ptmlab.app.explorer.menu import (
    TRAINABLE_PRESETS,
    LoadedModel,
    ModelChoice,
    choice_from_text,
    load_model,
    model_choices,
    train_default_model,
)
from ptmlab.errors import InputError, PtmlabError
from ptmlab.widgets.base import Widget


def message_html(error: BaseException) -> str:
    """A friendly message box for any error: the reason and the fix for ptmlab errors, one line for anything else."""
    if isinstance(error, PtmlabError):
        fix = f"<div><i>How to fix:</i> {html.escape(error.fix)}</div>" if error.fix else ""
        body = f"<b>{html.escape(error.message)}</b>{fix}"
    else:
        first = str(error).splitlines()[0] if str(error) else ""
        body = (
            f"<b>Something went wrong ({html.escape(type(error).__name__)}: {html.escape(first[:300])}).</b>"
            "<div><i>How to fix:</i> try another sentence or model; the details are in the terminal running "
            "`ptmlab explore`.</div>"
        )
    return (
        f"<div class='ptmlab-message' role='alert' style='border-left:4px solid #c0392b;background:#fdf1f0;"
        f"padding:6px 10px;margin:6px 0'>⚠️ {body}</div>"
    )


class ExplorerApp(Widget):
    """The widget app Voila serves: `ExplorerApp().display()`. Every action reports problems in the message box."""

    def __init__(self, sentence: str = EXAMPLE_SENTENCE):
        import ipywidgets as w

        self.loaded: LoadedModel | None = None
        self.analysis: Analysis | None = None
        self.choices: list[ModelChoice] = []
        self.title = w.HTML(
            "<h2 style='margin:4px 0'>ptmlab explorer</h2><div>Pick a model, type a sentence, press <b>Analyse</b>: "
            "see where it attends, what it predicts, what a pre-training objective would hide, and where its words "
            "sit among the vocabulary.</div>"
        )
        self.model_menu = w.Dropdown(description="Model", layout=w.Layout(width="70%"))
        self.refresh_button = w.Button(description="Refresh list")
        self.other_model = w.Text(
            placeholder="…or a Hugging Face name / model folder / .safetensors checkpoint",
            layout=w.Layout(width="60%"),
            continuous_update=False,
        )
        self.open_button = w.Button(description="Open", tooltip="open the model typed on the left")
        self.model_info = w.HTML()
        self.train_preset = w.ToggleButtons(options=list(TRAINABLE_PRESETS), description="Preset")
        self.train_button = w.Button(description="Train a small MLM", button_style="warning")
        self.train_output = w.Output()
        self.train_box = w.VBox(
            [
                w.HTML(
                    "No cached ptmlab run was found. Train the course's small masked language model now "
                    "(smoke: about 30 s, cpu: about 3 min on 2 cores); it is cached for next time."
                ),
                w.HBox([self.train_preset, self.train_button]),
                self.train_output,
            ]
        )
        self.sentence = w.Text(
            value=sentence, description="Sentence", layout=w.Layout(width="70%"), continuous_update=False
        )
        self.analyse_button = w.Button(description="Analyse", button_style="primary")
        self.objective = w.Dropdown(options=list(OBJECTIVES), description="Objective", layout=w.Layout(width="45%"))
        self.seed = w.BoundedIntText(value=0, min=0, max=10_000, description="Seed", layout=w.Layout(width="150px"))
        self.message = w.HTML()
        self.notes = w.HTML()
        self.view_kind = w.ToggleButtons(options=list(VIEW_KINDS), description="View")
        self.view_box = w.HTML()
        self.predictions = w.HTML()
        self.corruption = w.HTML()
        self.projector_dims = w.ToggleButtons(options=[("2-D", 2), ("3-D (WebGL)", 3)], description="Projection")
        self.projector = w.Output(layout=w.Layout(min_height="520px"))
        self.neighbours = w.HTML()
        self.replay = w.Output(layout=w.Layout(min_height="80px"))
        heading = lambda text: w.HTML(f"<h3 style='margin:12px 0 4px'>{text}</h3>")  # noqa: E731
        self.results = w.VBox(
            [
                heading("Attention (bertviz)"),
                self.view_kind,
                self.view_box,
                heading("Predictions"),
                self.predictions,
                heading("Corruption by a pre-training objective"),
                w.HBox([self.objective, self.seed]),
                self.corruption,
                heading("Embedding projector"),
                self.projector_dims,
                self.projector,
                self.neighbours,
                heading("Training replay: how the embedding space organised itself"),
                self.replay,
            ]
        )
        self.widget = w.VBox(
            [
                self.title,
                w.HBox([self.model_menu, self.refresh_button]),
                w.HBox([self.other_model, self.open_button]),
                self.model_info,
                self.train_box,
                w.HBox([self.sentence, self.analyse_button]),
                self.message,
                self.notes,
                self.results,
            ],
            layout=w.Layout(padding="0 12px"),
        )

        self.refresh_button.on_click(lambda _: self._safely(self.refresh))
        self.open_button.on_click(lambda _: self._safely(self.open_typed_model))
        self.other_model.observe(lambda _: self._safely(self.open_typed_model), names="value")
        self.train_button.on_click(lambda _: self._safely(self.train))
        self.analyse_button.on_click(lambda _: self._safely(self.run))
        self.sentence.observe(lambda _: self._safely(self.run), names="value")
        self.view_kind.observe(lambda _: self._safely(self.show_view), names="value")
        self.objective.observe(lambda _: self._safely(self.show_corruption), names="value")
        self.seed.observe(lambda _: self._safely(self.show_corruption), names="value")
        self.projector_dims.observe(lambda _: self._safely(self._draw_projector), names="value")
        self._menu_observer = lambda _: self._safely(self.select_from_menu)
        self._safely(self.refresh)

    # -- plumbing
    def _safely(self, action: Callable[[], Any]) -> None:
        """Run a UI action; any error becomes a message in the page, never a traceback (details go to the log)."""
        try:
            action()
        except Exception as err:  # the app must never show a traceback; the terminal keeps the details
            self.message.value = message_html(err)
            if not isinstance(err, PtmlabError):
                traceback.print_exc(file=sys.stderr)

    # -- actions
    def refresh(self) -> None:
        """Re-scan the caches; select the first model and analyse the sentence."""
        self.choices = model_choices()
        with contextlib.suppress(ValueError):  # not our observer yet (first call): nothing to remove
            # Only our own handler: unobserve_all would also drop ipywidgets' value->index sync (a blank menu).
            self.model_menu.unobserve(self._menu_observer, names="value")
        self.model_menu.options = [c.label for c in self.choices]
        has_run = any(c.backend == "ptmlab" for c in self.choices)
        self.train_box.layout.display = "none" if has_run else ""
        if not self.choices:
            self.model_info.value = "<i>No model yet: train one below.</i>"
            self.results.layout.display = "none"
            return
        self.model_menu.value = self.choices[0].label
        self.model_menu.observe(self._menu_observer, names="value")
        self.select_from_menu()

    def select_from_menu(self) -> None:
        chosen = [c for c in self.choices if c.label == self.model_menu.value]
        if chosen:
            self.use_model(chosen[0])

    def open_typed_model(self) -> None:
        if not self.other_model.value.strip():
            return
        self.use_model(choice_from_text(self.other_model.value))

    def use_model(self, choice: ModelChoice) -> None:
        self.message.value = ""
        self.model_info.value = f"<i>Loading {html.escape(choice.label)}…</i>"
        try:
            self.loaded = load_model(choice)
        except Exception:
            self.model_info.value = ""
            raise
        self.model_info.value = f"<div class='ptmlab-model-info'>{html.escape(self.loaded.describe())}</div>"
        self._draw_replay()
        self.run()

    def train(self) -> None:
        self.train_button.disabled = True
        try:
            with self.train_output:
                train_default_model(self.train_preset.value)
        finally:
            self.train_button.disabled = False
        self.refresh()

    def run(self) -> None:
        """Analyse the sentence with the current model and redraw every section."""
        if self.loaded is None:
            raise InputError("No model is open.", fix="Pick a model in the menu (or train one).")
        self.message.value = ""
        self.analysis = None
        try:
            self.analysis = analyse(
                self.loaded, self.sentence.value, objective=self.objective.value, seed=int(self.seed.value)
            )
        except Exception:
            self.results.layout.display = "none"  # never leave the previous sentence's figures under a new error
            self.notes.value = ""
            raise
        self.results.layout.display = ""
        self.notes.value = note_html([n for n in self.analysis.notes if not n.startswith("Predictions")])
        self.show_view()
        self.predictions.value = predictions_html(self.analysis) or note_html(
            [n for n in self.analysis.notes if n.startswith("Predictions")]
        )
        self.corruption.value = self.analysis.corruption
        self._draw_projector()
        self.neighbours.value = neighbours_html(self.analysis)

    def show_view(self) -> None:
        if self.analysis is None:
            return
        try:
            self.view_box.value = attention_view(self.analysis, self.view_kind.value).iframe_html()
        except PtmlabError as err:
            self.view_box.value = message_html(err)

    def show_corruption(self) -> None:
        if self.analysis is None:
            return
        draw_corruption(self.analysis, self.objective.value, int(self.seed.value))
        self.corruption.value = self.analysis.corruption

    def _draw_projector(self) -> None:
        """Plotly's own mime renderer (bundled with plotly's JupyterLab extension, so offline) inside an Output."""
        import json

        figure = projector_figure(self.analysis, self.projector_dims.value) if self.analysis else None
        data = {"application/vnd.plotly.v1+json": json.loads(figure.to_json())} if figure is not None else None
        # Setting the Output's outputs directly works with or without a kernel front end (and is what tests read).
        self.projector.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},) if data else ()

    def _draw_replay(self) -> None:
        import json

        from ptmlab.viz.projector import replay_figure

        if self.loaded is None or not self.loaded.snapshots:
            note = "This model has no recorded training snapshots (Hugging Face models and runs of other recipes)."
            self.replay.outputs = ({"output_type": "display_data", "data": {"text/html": note_html([note])},
                                    "metadata": {}},)  # fmt: skip
            return
        figure = json.loads(replay_figure(self.loaded.snapshots).to_json())
        self.replay.outputs = (
            {"output_type": "display_data", "data": {"application/vnd.plotly.v1+json": figure}, "metadata": {}},
        )


def show(sentence: str = EXAMPLE_SENTENCE) -> ExplorerApp:
    """Build and display the explorer (what explorer.ipynb runs); returns the app for scripting and tests."""
    app = ExplorerApp(sentence)
    app.display()
    return app
