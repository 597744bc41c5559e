"""Tokenization apps: step through BPE merges one by one, and compare how six tokenizers split the same sentence.

The merge-by-merge view animates Sennrich et al. 2016's algorithm; the comparison puts word, character, BPE, WordPiece
(Schuster & Nakajima 2012) and Unigram (Kudo 2018) side by side. Both work headless: they draw once when built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ptmlab.data.bpe import BPE, END_OF_WORD, segmentation_at, tokenize_many
from ptmlab.errors import InputError, PtmlabError
from ptmlab.viz.tokens import comparison_html, curve_svg, segmentation_html
from ptmlab.widgets.base import Widget


class MergeExplorer(Widget):
    """`MergeExplorer(bpe_model, words).display()`: a slider (and a play button) over merge steps.

    Shows the merge learned at the chosen step, the vocabulary size, how each word is segmented at that point (words
    the step changed are marked) and where the step sits on the corpus-compression curve. `.show(step)` moves it."""

    def __init__(self, model: BPE, words: Sequence[str], step: int | None = None, interval_ms: int = 150):
        import ipywidgets as w

        if not words:
            raise InputError("No words to follow.", fix="Pass a few words, e.g. ['lower', 'newest'].")
        self.model, self.words = model, list(words)
        n = len(model.merges)
        self.slider = w.IntSlider(
            value=0, min=0, max=n, description="merges", continuous_update=True, layout=w.Layout(width="70%")
        )
        self.play = w.Play(value=0, min=0, max=n, step=1, interval=interval_ms, description="play")
        w.jslink((self.play, "value"), (self.slider, "value"))
        self.header = w.HTML()
        self.table = w.HTML()
        self.curve = w.HTML()  # an inline SVG: redrawn at every step without any JavaScript
        self.per_word = [s / model.corpus_words for s in model.corpus_symbols] if model.corpus_words else []
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.widget = w.VBox([w.HBox([self.play, self.slider]), self.header, self.table, self.curve])
        self.show(n if step is None else step)

    def segmentations(self, step: int) -> dict[str, tuple[str, ...]]:
        """Each followed word's segmentation after `step` merges (recorded while learning when it was tracked)."""
        return {word: segmentation_at(self.model, word, step) for word in self.words}

    def show(self, step: int) -> dict[str, tuple[str, ...]]:
        n = len(self.model.merges)
        step = max(0, min(int(step), n))
        if self.slider.value != step:
            self.slider.value = step  # calls show() again through observe; the second call is cheap
        now, before = self.segmentations(step), self.segmentations(max(step - 1, 0))
        changed = [w for w in self.words if step > 0 and now[w] != before[w]]
        if step == 0:
            merge = "no merges yet: every word is spelled in characters (the last one marked <code>&lt;/w&gt;</code>)"
        else:
            left, right = self.model.merges[step - 1]
            count = self.model.counts[step - 1] if step - 1 < len(self.model.counts) else "?"
            merge = (
                f"merge {step}: <code>{_show(left)}</code> + <code>{_show(right)}</code> → "
                f"<code>{_show(left + right)}</code> (seen {count} times)"
            )
        self.header.value = (
            f"<div style='font-size:110%'>{merge}<br>vocabulary: <b>{self.model.vocab_size(step):,}"
            f"</b> symbols ({len(self.model.alphabet)} characters + {step} merges)</div>"
        )
        self.table.value = segmentation_html(now, changed)
        if len(self.per_word) > 1:
            self.curve.value = curve_svg(self.per_word, step, x_label="merges learned", y_label="symbols per word") + (
                "<div style='color:#666;font-size:90%'>Each merge shortens the training text: symbols per word "
                "after each merge.</div>"
            )
        return now


def _show(symbol: str) -> str:
    import html

    return html.escape(symbol)


class TokenizerComparison(Widget):
    """`TokenizerComparison({"word": tok, "BPE (ours)": bpe, ...}).display()`: type a sentence, see every split.

    Each value needs a `tokenize(text)` method (ptmlab tokenizers, our BPE) or is a Hugging Face `tokenizers.Tokenizer`.
    `.compare(text)` updates the view from code and returns {name: tokens}."""

    DEFAULT_TEXT = "Tokenizers split unbelievably rare words like photosynthesising into pieces."

    def __init__(self, tokenizers: Mapping[str, object], text: str | None = None):
        import ipywidgets as w

        if not tokenizers:
            raise InputError("No tokenizers to compare.", fix="Pass a dict like {'word': tokenizer, ...}.")
        self.tokenizers = dict(tokenizers)
        self.text = w.Text(
            value=text or self.DEFAULT_TEXT,
            description="Sentence",
            continuous_update=False,
            layout=w.Layout(width="90%"),
        )
        self.output = w.HTML()
        self.text.observe(lambda change: self.compare(), names="value")
        self.widget = w.VBox([self.text, self.output])
        self.compare()

    def compare(self, text: str | None = None) -> dict[str, list[str]]:
        if text is not None and text != self.text.value:
            self.text.value = text  # observe -> compare() with the new text
            return self.last
        text = self.text.value
        rows: dict[str, list[str]] = {}
        errors: dict[str, str] = {}
        if not text.strip():
            errors["(input)"] = "Type a sentence to tokenize."
        else:
            for name, tokenizer in self.tokenizers.items():
                try:
                    rows[name] = tokenize_many(tokenizer, [text])[0]
                except PtmlabError as err:
                    errors[name] = err.message
        self.output.value = comparison_html(rows, errors=errors) + _legend()
        self.last = rows
        return rows


def _legend() -> str:
    return (
        "<div style='color:#666;font-size:90%;margin-top:4px'>Markers: "
        f"<code>{END_OF_WORD.replace('<', '&lt;').replace('>', '&gt;')}</code> ends a word (BPE), "
        "<code>##</code> continues a word (WordPiece), <code>▁</code> starts a word (Unigram / SentencePiece), "
        "<span style='background:#c0392b;color:white;padding:0 3px'>[UNK]</span> = out of vocabulary.</div>"
    )
