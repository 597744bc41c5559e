"""Masking strategies side by side on your own sentence: which tokens BERT, whole-word, span and entity masking hide.

The corruption view (ptmlab.viz.corruption) for each strategy of survey 3.1.2: Devlin et al. 2019 (BERT), Cui et al.
2019 (whole words), Joshi et al. 2020 (SpanBERT spans), Sun et al. 2019 (ERNIE entities). Works headless."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ptmlab.errors import PtmlabError

STRATEGY_TITLES = {
    "subword": "subword (BERT): each token on its own",
    "whole_word": "whole word: every piece of a chosen word",
    "span": "span (SpanBERT): runs of whole words, lengths ~ Geometric(0.2)",
    "entity": "entity (ERNIE): whole named entities, or whole words",
}


def comparison_html(
    tokenizer,
    text: str,
    *,
    strategies: Sequence[str] = tuple(STRATEGY_TITLES),
    seed: int = 0,
    mask_prob: float = 0.15,
    spans: Sequence[tuple[int, int]] | None = None,
) -> tuple[str, dict[str, dict[str, Any]]]:
    """HTML with one corruption view per strategy on `text`, and per-strategy statistics (a pure function).

    Entity masking needs entity spans: pass character `spans`, or capitalised names are guessed (`guess_entity_spans`).
    Every strategy draws from the same seed, so changing the seed redraws them all."""
    import torch

    from ptmlab.data.tokenizers import encode_for_model
    from ptmlab.objectives.masking import corrupt_data, encode_with_spans, guess_entity_spans, make_strategy, with_spans
    from ptmlab.viz.corruption import corruption_html

    encode_for_model(tokenizer, text, max_len=512)  # clear errors for empty, all-unknown or very long text
    spans = guess_entity_spans(text) if spans is None else list(spans)
    ids, labels = encode_with_spans(tokenizer, text, spans)
    tokens = torch.tensor([[tokenizer.cls_id, *ids, tokenizer.sep_id]])
    span_ids = torch.tensor([[0, *labels, 0]])
    data = with_spans(tokens, span_ids)
    original = tokenizer.convert_ids_to_tokens(tokens[0].tolist())
    named = ", ".join(f"<b>{html.escape(text[s:e])}</b>" for s, e in spans) or "none found"
    parts = [f"<div style='margin-bottom:6px'><small>entity spans used by entity masking: {named}</small></div>"]
    stats: dict[str, dict[str, Any]] = {}
    n_maskable = len(ids)
    for name in strategies:
        objective = make_strategy(name, tokenizer, mask_prob)
        batch = corrupt_data(objective, data, torch.Generator().manual_seed(seed))
        chosen = batch.loss_mask[0].tolist()
        runs = sum(1 for t, c in enumerate(chosen) if c and (t == 0 or not chosen[t - 1]))
        n = sum(chosen)
        stats[name] = {"n_predicted": n, "rate": n / max(1, n_maskable), "n_runs": runs}
        title = (
            f"{STRATEGY_TITLES.get(name, name)} · {n} of {n_maskable} tokens predicted"
            f" in {runs} run{'s' if runs != 1 else ''}"
        )
        corrupted = tokenizer.convert_ids_to_tokens(batch.input_ids[0].tolist())
        parts.append(corruption_html(original, corrupted, batch.record[0].tolist(), title))
    return "<div class='ptmlab-masking-comparison'>" + "<hr style='margin:6px 0'>".join(parts) + "</div>", stats


class MaskingComparisonApp:
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
            self.message.value = (
                f"<span style='color:#c0392b'>⚠️ {html.escape(err.message)} <i>{err.fix or ''}</i></span>"
            )
            return None
        self.message.value = ""
        self.output.value = body
        return self.stats

    def display(self):
        from IPython.display import display

        display(self.widget)
        return self
