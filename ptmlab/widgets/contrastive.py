"""Replaced-token highlights: the ELECTRA discriminator's P(replaced) on every token of a sentence you type.

Clark et al. 2020 (ELECTRA), Section 3: the generator fills masked slots, the discriminator scores all tokens; here the
generator's replacements are outlined and each token is shaded by the discriminator's probability (survey 3.1.5)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from ptmlab.errors import PtmlabError


def _shade(p: float) -> str:
    """White (0) to vermilion (1): the discriminator's probability that a token was replaced."""
    p = min(1.0, max(0.0, float(p)))
    r, g, b = (round(255 + (c - 255) * p) for c in (213, 94, 0))
    return f"rgb({r},{g},{b})"


def replaced_token_html(
    tokens: Sequence[str],
    probabilities: Sequence[float],
    replaced: Sequence[bool] | None = None,
    originals: Sequence[str] | None = None,
    title: str = "",
) -> str:
    """Tokens shaded by P(replaced); truly replaced tokens (when known) get a thick outline and show the original.

    A pure function: tokens, probabilities in [0, 1] and optional gold flags in, an HTML string out."""
    if len(tokens) != len(probabilities) or (replaced is not None and len(replaced) != len(tokens)):
        raise ValueError("tokens, probabilities and replaced must have the same length")
    chips = []
    for i, (token, p) in enumerate(zip(tokens, probabilities)):
        was_replaced = bool(replaced[i]) if replaced is not None else False
        original = originals[i] if originals is not None else None
        tip = f"P(replaced) = {p:.2f}"
        if was_replaced and original is not None:
            tip += f"; the generator wrote this instead of '{original}'"
        border = "3px solid #000" if was_replaced else "1px solid #ccc"
        colour = "#fff" if p > 0.6 else "#222"
        below = (f"<div style='font-size:70%;color:#555'>was: {html.escape(original)}</div>"
                 if was_replaced and original is not None else "")  # fmt: skip
        chips.append(
            f"<span class='ptmlab-rtd-token' title='{html.escape(tip)}' style='display:inline-block;text-align:center;"
            f"margin:2px;vertical-align:top'><span style='background:{_shade(p)};color:{colour};border:{border};"
            f"border-radius:4px;padding:1px 5px;font-family:monospace'>{html.escape(token)}</span>"
            f"<div style='font-size:70%;color:#777'>{p:.2f}</div>{below}</span>"
        )
    legend = ("<small>shade = the discriminator's P(replaced), white 0 → vermilion 1; thick outline = the generator "
              "really replaced this token</small>" if replaced is not None else
              "<small>shade = the discriminator's P(replaced), white 0 → vermilion 1</small>")  # fmt: skip
    heading = f"<div style='font-weight:600;margin:4px 0'>{html.escape(title)}</div>" if title else ""
    return f"<div class='ptmlab-rtd'>{heading}<div>{''.join(chips)}</div><div>{legend}</div></div>"


@dataclass
class RTDExample:
    """One sentence through ELECTRA: what the generator wrote and what the discriminator thinks of every token."""

    original: list[str]
    shown: list[str]  # the discriminator's input
    replaced: list[bool]
    probabilities: list[float]
    masked: list[bool]  # the slots the generator filled (a sample may equal the original)

    def html(self, title: str = "") -> str:
        return replaced_token_html(self.shown, self.probabilities, self.replaced, self.original, title)

    def corruption_html(self, title: str = "") -> str:
        """The same sentence in the corruption view: generator-replaced tokens as REPLACED, masked slots where the
        generator happened to sample the original as UNCHANGED (the discriminator must call them original)."""
        from ptmlab.objectives.base import Op
        from ptmlab.viz.corruption import corruption_html

        specials = {"[CLS]", "[SEP]", "[PAD]"}
        record = [
            Op.SPECIAL if o in specials else Op.REPLACED if r else Op.UNCHANGED if m else Op.KEPT
            for o, r, m in zip(self.original, self.replaced, self.masked)
        ]
        return corruption_html(self.original, self.shown, [int(op) for op in record], title)

    @property
    def detection_accuracy(self) -> float:
        hits = [(p > 0.5) == r for p, r in zip(self.probabilities, self.replaced)]
        return sum(hits) / max(1, len(hits))


def rtd_example(model, tokenizer, text: str, seed: int = 0, mask_prob: float = 0.15, use_generator: bool = True):
    """Run ELECTRA on `text`: mask `mask_prob` of the tokens, let the generator sample replacements (seeded), then score
    every token with the discriminator. With use_generator=False the sentence is scored exactly as typed (change a
    word yourself and see whether the discriminator notices)."""
    import torch

    from ptmlab.data.tokenizers import encode_for_model
    from ptmlab.objectives.rtd import ReplacedTokenDetection

    ids = torch.tensor([encode_for_model(tokenizer, text, model.config.max_len)])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        if use_generator:
            objective = ReplacedTokenDetection(model.config.vocab_size, mask_prob=mask_prob)
            batch = objective.corrupt(ids, torch.Generator().manual_seed(seed)).to(device)
            _, shown_ids, replaced = objective.generate(model, batch)
            masked = batch.loss_mask
        else:
            shown_ids, replaced = ids.to(device), torch.zeros_like(ids, dtype=torch.bool)
            masked = replaced
        probabilities = model.replaced_probabilities(shown_ids)[0].tolist()
    model.train(was_training)
    return RTDExample(
        tokenizer.convert_ids_to_tokens(ids[0].tolist()),
        tokenizer.convert_ids_to_tokens(shown_ids[0].tolist()),
        [bool(r) for r in replaced[0].tolist()],
        probabilities,
        [bool(m) for m in masked[0].tolist()],
    )


class ReplacedTokenExplorer:
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
            self.output.value = (
                f"<span style='color:#c0392b'>⚠️ {html.escape(err.message)} <i>{err.fix or ''}</i></span>"
            )
            return None
        n = sum(example.replaced)
        title = (f"{n} token(s) replaced by the generator; the discriminator gets {example.detection_accuracy:.0%} of "
                 f"the tokens right" if self.use_generator.value else "your sentence, scored as typed")  # fmt: skip
        view = example.corruption_html("the same draw in the corruption view") if self.use_generator.value else ""
        self.output.value = example.html(title) + view
        self.last = example
        return example

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self


# ============================================================================ sentence pairs in the corruption view
PAIR_VERDICTS = {
    ("nsp", 1): "positive: B is the sentence after A",
    ("nsp", 0): "negative: B is a random sentence from another document",
    ("sop", 1): "positive: A and B in order",
    ("sop", 0): "negative: A and B swapped",
    ("none", 1): "a pair in order (no sentence task)",
}


def pair_corruption_html(objective, tokenizer, pairs, seed: int = 0) -> str:
    """The corruption view of sentence pairs from `make_pairs` ([n, 3, seq]): MLM's masks and the pair's negative
    (an inserted sentence for NSP, moved sentences for SOP), one view per pair with its label as the heading."""
    import torch

    from ptmlab.objectives.sentence import IDS
    from ptmlab.viz.corruption import corruption_html

    batch = objective.corrupt(pairs, torch.Generator().manual_seed(seed))
    parts = []
    for row in range(len(pairs)):
        length = int((pairs[row, IDS] != tokenizer.pad_id).sum())
        label = int(batch.extra["sentence_labels"][row])
        verdict = PAIR_VERDICTS.get((getattr(objective, "kind", "none"), label), f"label {label}")
        parts.append(corruption_html(tokenizer.convert_ids_to_tokens(pairs[row, IDS, :length].tolist()),
                                     tokenizer.convert_ids_to_tokens(batch.input_ids[row, :length].tolist()),
                                     batch.record[row, :length].tolist(), f"{objective.name}: {verdict}"))  # fmt: skip
    return "".join(parts)


def score_matrix_figure(scores, title: str = "InfoNCE: every masked sentence scored against every n-gram"):
    """A heatmap of the [n, n] in-batch scores; the positives sit on the diagonal (a pure function of the matrix)."""
    import plotly.graph_objects as go

    z = scores.tolist() if hasattr(scores, "tolist") else scores
    n = len(z)
    figure = go.Figure(go.Heatmap(z=z, x=[f"n-gram {j}" for j in range(n)], y=[f"sentence {i}" for i in range(n)],
                                  colorscale="Viridis", colorbar=dict(title="cos / t")))  # fmt: skip
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(title=title, height=360, margin=dict(l=10, r=10, t=40, b=10))
    return figure


# ======================================================================= judge a sentence pair with NSP / SOP heads
def pair_judgement(models: dict, tokenizer, first: str, second: str) -> list[dict]:
    """For each named pair model: P(positive) for (first, second) and for the swapped (second, first).

    An NSP head answers "does B follow A?", an SOP head "are they in order?"; both read label 1 as positive."""
    import torch

    from ptmlab.errors import InputError
    from ptmlab.objectives.sentence import IDS, SEGMENTS, pair_row

    a = tokenizer.encode(first, add_special_tokens=False)
    b = tokenizer.encode(second, add_special_tokens=False)
    if not a or not b:
        raise InputError("Both sentences need some text.", fix="Type a sentence in each box.")
    rows = []
    for name, model in models.items():
        device = next(model.parameters()).device
        pairs = torch.stack([pair_row(a, b, tokenizer, model.config.max_len),
                             pair_row(b, a, tokenizer, model.config.max_len)]).to(device)  # fmt: skip
        was_training = model.training
        model.eval()
        with torch.no_grad():
            ids = pairs[:, IDS]
            logits = model(ids, (ids != 0).long(), token_type_ids=pairs[:, SEGMENTS]).extras["pair_logits"]
        model.train(was_training)
        p = logits.float().softmax(-1)[:, 1].tolist()
        rows.append({"model": name, "a_then_b": p[0], "b_then_a": p[1]})
    return rows


def pair_judgement_html(rows: list[dict]) -> str:
    """A small table: each model's P(positive) for A→B and B→A (a pure function of `pair_judgement`'s rows)."""
    cells = "".join(
        f"<tr><td>{html.escape(r['model'])}</td><td style='background:{_shade(1 - r['a_then_b'])}'>{r['a_then_b']:.2f}"
        f"</td><td style='background:{_shade(1 - r['b_then_a'])}'>{r['b_then_a']:.2f}</td></tr>"
        for r in rows
    )
    return ("<table class='ptmlab-pairs' style='border-collapse:collapse'><tr><th>model</th><th>P(positive | A then B)"
            "</th><th>P(positive | B then A)</th></tr>" + cells + "</table><small>positive = 'B follows A' (NSP) / "
            "'in order' (SOP); redder = more sure the pair is a negative</small>")  # fmt: skip


class PairJudge:
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
            self.output.value = (
                f"<span style='color:#c0392b'>⚠️ {html.escape(err.message)} <i>{err.fix or ''}</i></span>"
            )
            return None
        self.output.value = pair_judgement_html(rows)
        return rows

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self


# ============================================================================ the chapter's result figures
def cross_evaluation_figure(result):
    """ALBERT Table 5 as a matrix (rows: trained with none / NSP / SOP; columns: evaluated on NSP / SOP): ours (mean ±
    sd over seeds) beside the paper's, as two heatmaps. `result` is a sentence_pairs.CrossEvaluation."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ptmlab.probe.sentence_pairs import ALBERT_TABLE5, KIND_LABELS

    stats = result.stats()
    kinds, tasks = list(stats), ["nsp", "sop"]
    ours = [[100 * stats[k][t][0] for t in tasks] for k in kinds]
    text_ours = [[f"{100 * stats[k][t][0]:.1f} ± {100 * stats[k][t][1]:.1f}" for t in tasks] for k in kinds]
    paper = [[ALBERT_TABLE5[k][t] for t in tasks] for k in kinds]
    x, y = ["evaluated on NSP", "evaluated on SOP"], [KIND_LABELS[k] for k in kinds]
    figure = make_subplots(1, 2, subplot_titles=("ours (held-out world, mean ± sd over seeds)", "ALBERT Table 5"))
    for col, (z, text) in enumerate(((ours, text_ours), (paper, [[f"{v:.1f}" for v in row] for row in paper])), 1):
        figure.add_trace(go.Heatmap(z=z, x=x, y=y, text=text, texttemplate="%{text}", zmin=40, zmax=100,
                                    colorscale="Blues", showscale=col == 2), 1, col)  # fmt: skip
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(height=320, margin=dict(l=10, r=10, t=60, b=10), title="Trained with (rows) × evaluated on")
    return figure


def comparison_figure(result):
    """ELECTRA Table 1 in miniature: probe score per run against its training FLOPs (equal for MLM and RTD) and its
    measured wall time. `result` is a sentence_pairs.EncoderComparison."""
    from plotly.subplots import make_subplots

    from ptmlab.probe.sentence_pairs import ENCODER_LABELS

    colours = {"untrained": "#999999", "mlm": "#0072b2", "rtd": "#d55e00"}
    figure = make_subplots(1, 2, shared_yaxes=True, subplot_titles=("vs estimated FLOPs", "vs measured seconds"))
    for kind in dict.fromkeys(r["objective"] for r in result.rows):
        runs = [r for r in result.rows if r["objective"] == kind]
        tflops = result.budget["flops_per_step"].get(kind, 0.0) * result.budget.get(kind, 0) / 1e12
        y = [100 * r["balanced_accuracy"] for r in runs]
        style = dict(
            mode="markers", marker=dict(size=11, color=colours[kind]), text=[f"seed {r['seed']}" for r in runs]
        )
        figure.add_scatter(x=[tflops] * len(runs), y=y, name=ENCODER_LABELS[kind], **style, row=1, col=1)
        figure.add_scatter(x=[r["seconds"] for r in runs], y=y, showlegend=False, **style, row=1, col=2)
    figure.update_xaxes(title_text="training FLOPs (× 10^12)", row=1, col=1)
    figure.update_xaxes(title_text="training seconds on this machine", row=1, col=2)
    figure.update_yaxes(title_text="entity-type probe, balanced accuracy %", row=1, col=1)
    figure.update_layout(title="Held-out entity-type probe per run", height=360, margin=dict(l=40, r=10, t=60, b=40))
    return figure


# ============================================================================ switch objective in the corruption view
def contrast_view(
    objective_name: str, tokenizer, documents, seed: int = 0, document: int = 0, pair_len: int = 64
) -> str:
    """The corruption view of one of chapter 08's objectives on a world document (a pure function of its inputs).

    "rtd": what the generator reads (the masked slots it will fill); "infonce": the masked n-gram (the local view);
    "nsp" / "sop": a pair from the document, drawn as a negative or a positive by `seed`, with MLM's masks."""
    from ptmlab.errors import InputError
    from ptmlab.objectives.contrastive import InfoNCEObjective
    from ptmlab.objectives.rtd import ReplacedTokenDetection
    from ptmlab.objectives.sentence import SentencePairObjective, make_pairs
    from ptmlab.viz.corruption import show_corruption

    vocab = tokenizer.vocab_size
    if objective_name in ("nsp", "sop"):
        pairs = make_pairs(documents, tokenizer, pair_len, objective_name, seed=seed)
        return pair_corruption_html(SentencePairObjective(vocab, objective_name), tokenizer,
                                    pairs[document % len(pairs)][None], seed)  # fmt: skip
    objectives = {"rtd": ReplacedTokenDetection(vocab), "infonce": InfoNCEObjective(vocab)}
    if objective_name not in objectives:
        raise InputError(f"Unknown objective {objective_name!r}.", fix="Use rtd, infonce, nsp or sop.")
    sentences = [s.text for doc in documents for s in doc.sentences]
    return show_corruption(objectives[objective_name], tokenizer, sentences[document % len(sentences)], seed).data


class ContrastSwitcher:
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

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self
