"""Chapter 08's widgets: ELECTRA's replaced-token highlights, an NSP / SOP pair judge, and an objective switcher.

Clark et al. 2020 (ELECTRA), Section 3: the generator fills masked slots, the discriminator scores all tokens; Lan et al.
2020 (ALBERT): NSP vs SOP heads on a pair you type. Interaction only: the views come from ptmlab.viz.contrastive and the
model read-outs from ptmlab.chapters.contrastive."""

from __future__ import annotations

from ptmlab.chapters.contrastive import RTDExample, pair_judgement, rtd_example
from ptmlab.errors import PtmlabError
from ptmlab.viz.contrastive import contrast_view, pair_judgement_html
from ptmlab.widgets.base import Widget, error_html


class ReplacedTokenExplorer(Widget):
    """`ReplacedTokenExplorer(electra_model, tokenizer).display()`; `.show(text)` updates it from code.

    Type a sentence; the generator replaces some tokens (change the seed for another draw, or the masking rate), and
    every token is shaded by the discriminator's P(replaced). Untick "generator" to score your own edits."""

    def __init__(self, model, tokenizer, text: str = "She was born in Umbermoor and works for Saltmarsh Farms."):
        import ipywidgets as w

        self.model, self.tokenizer = model, tokenizer
        self.text = w.Text(value=text, description="Sentence", layout=w.Layout(width="80%"), continuous_update=False)
        self.seed = w.IntSlider(value=0, min=0, max=50, description="seed")
        self.rate = w.FloatSlider(value=0.15, min=0.05, max=0.5, step=0.05, description="mask rate")
        self.use_generator = w.Checkbox(value=True, description="generator replaces tokens")
        self.output = w.HTML()
        for control in (self.text, self.seed, self.rate, self.use_generator):
            control.observe(lambda change: self.show(), names="value")
        self.widget = w.VBox([self.text, w.HBox([self.seed, self.rate, self.use_generator]), self.output])

    def show(self, text: str | None = None) -> RTDExample | None:
        if text is not None and text != self.text.value:
            self.text.value = text  # the observer calls show() again with the new text
            return self.last if hasattr(self, "last") else None
        try:
            example = rtd_example(self.model, self.tokenizer, self.text.value, int(self.seed.value),
                                  float(self.rate.value), bool(self.use_generator.value))  # fmt: skip
        except PtmlabError as err:
            self.output.value = error_html(err)
            return None
        n = sum(example.replaced)
        title = (f"{n} token(s) replaced by the generator; the discriminator gets {example.detection_accuracy:.0%} of "
                 f"the tokens right" if self.use_generator.value else "your sentence, scored as typed")  # fmt: skip
        view = example.corruption_html("the same draw in the corruption view") if self.use_generator.value else ""
        self.output.value = example.html(title) + view
        self.last = example
        return example


class PairJudge(Widget):
    """`PairJudge({"NSP": nsp_model, "SOP": sop_model}, tokenizer).display()`: type two sentences, see how each pair
    head judges them in both orders. An order-blind NSP head gives similar numbers both ways; an SOP head should not."""

    def __init__(self, models: dict, tokenizer, first: str = "Otto Blackwood is a veterinarian.",
                 second: str = "He was born in Umbermoor."):  # fmt: skip
        import ipywidgets as w

        self.models, self.tokenizer = models, tokenizer
        self.first = w.Text(value=first, description="A", layout=w.Layout(width="80%"), continuous_update=False)
        self.second = w.Text(value=second, description="B", layout=w.Layout(width="80%"), continuous_update=False)
        self.output = w.HTML()
        for box in (self.first, self.second):
            box.observe(lambda change: self.judge(), names="value")
        self.widget = w.VBox([self.first, self.second, self.output])

    def judge(self) -> list[dict] | None:
        try:
            rows = pair_judgement(self.models, self.tokenizer, self.first.value, self.second.value)
        except PtmlabError as err:
            self.output.value = error_html(err)
            return None
        self.output.value = pair_judgement_html(rows)
        return rows


class ContrastSwitcher(Widget):
    """`ContrastSwitcher(tokenizer, documents).display()`: pick an objective, a sentence and a seed; see what it does."""

    OPTIONS = (("RTD (generator input)", "rtd"), ("NSP", "nsp"), ("SOP", "sop"), ("InfoNCE (masked n-gram)", "infonce"))

    def __init__(self, tokenizer, documents, pair_len: int = 64):
        import ipywidgets as w

        self.tokenizer, self.documents, self.pair_len = tokenizer, documents, pair_len
        self.objective = w.Dropdown(options=self.OPTIONS, value="rtd", description="objective")
        self.document = w.IntSlider(value=0, min=0, max=50, description="example")
        self.seed = w.IntSlider(value=0, min=0, max=20, description="seed")
        self.output = w.HTML()
        for control in (self.objective, self.document, self.seed):
            control.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.objective, self.document, self.seed]), self.output])

    def update(self) -> str:
        self.output.value = contrast_view(self.objective.value, self.tokenizer, self.documents, int(self.seed.value),
                                          int(self.document.value), self.pair_len)  # fmt: skip
        return self.output.value
