"""Figures and HTML of word vectors (pure: vectors in, figure out): neighbours, analogies, a 3-D projector, sampling.

Word2vec-style vectors (Mikolov et al. 2013) side by side with subword vectors (Bojanowski et al. 2017), which answer
words they never saw; the projector follows TensorBoard's Embedding Projector (Smilkov et al. 2016)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ptmlab.errors import InputError
from ptmlab.models.static import WordVectors, char_ngrams, keep_probability, noise_distribution

# Analogy sections whose (a, b) pairs are two categories of words, with the names of the two sides.
CATEGORY_SECTIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "countries and capitals": (("capital-common-countries", "capital-world"), "capital", "country"),
    "countries and currencies": (("currency",), "country", "currency"),
    "US cities and states": (("city-in-state",), "city", "state"),
    "family (male / female)": (("family",), "male", "female"),
    "verbs (present / past)": (("gram7-past-tense",), "present", "past"),
    "verbs (-ing form)": (("gram5-present-participle",), "verb", "-ing form"),
    "nouns (singular / plural)": (("gram8-plural",), "singular", "plural"),
    "adjectives (adjective / adverb)": (("gram1-adjective-to-adverb",), "adjective", "adverb"),
    "adjectives (comparative)": (("gram3-comparative",), "adjective", "comparative"),
    "countries and nationalities": (("gram6-nationality-adjective",), "country", "nationality"),
}


def analogy_categories(
    vectors: WordVectors,
    questions: Mapping[str, Sequence[tuple[str, str, str, str]]] | None = None,
    max_per_side: int = 30,
) -> dict[str, dict[str, list[str]]]:
    """Word groups to colour the projector with, taken from the analogy set: {category: {side: [words]}}.

    Each question a : b :: c : d holds two pairs of the same relation, (a, b) and (c, d); the words on each side form
    a group (capitals vs countries, male vs female, ...). Only words in the vocabulary, most frequent first."""
    if questions is None:
        from ptmlab.data.corpora import analogies

        questions = analogies()
    rank = vectors.index
    categories: dict[str, dict[str, list[str]]] = {}
    for category, (sections, left_name, right_name) in CATEGORY_SECTIONS.items():
        pairs = {(q[0], q[1]) for s in sections for q in questions.get(s, ())}
        pairs |= {(q[2], q[3]) for s in sections for q in questions.get(s, ())}
        known = sorted((p for p in pairs if p[0] in rank and p[1] in rank), key=lambda p: rank[p[0]] + rank[p[1]])
        left, right = [], []
        for a, b in known:
            if a not in left and a not in right and len(left) < max_per_side:
                left.append(a)
            if b not in right and b not in left and len(right) < max_per_side:
                right.append(b)
        if len(left) >= 2 and len(right) >= 2:
            categories[category] = {left_name: left, right_name: right}
    return categories


# ============================================================================ neighbours, analogies, projector
def _by_name(models: Sequence[WordVectors]) -> list[WordVectors]:
    if not models:
        raise InputError(
            "No word vectors given.", fix="Pass a list of WordVectors, e.g. [run.vectors for run in runs]."
        )
    return list(models)


def neighbours_html(models: Sequence[WordVectors], word: str, k: int = 8) -> str:
    """A table with one column per model: the k nearest words to `word`, or why a model cannot answer.

    A word-level model has no vector for an unseen word; a subword model builds one from its character n-grams."""
    word = word.strip().lower()
    if not word:
        return "<i>Type a word.</i>"
    columns = []
    for vectors in _by_name(models):
        if word in vectors:
            count = f", seen {vectors.counts[vectors.index[word]]}x" if vectors.counts is not None else ""
            note = f"in vocabulary (rank {vectors.index[word] + 1}{count})"
        elif vectors.has_subwords:
            grams = " ".join(char_ngrams(word, 3, 3))
            note = f"unseen: built from its n-grams ({html.escape(grams)} ...)"
        else:
            columns.append(
                (
                    vectors.name,
                    f"<b style='color:#c0392b'>no vector</b>: '{html.escape(word)}' is not among "
                    f"its {len(vectors)} words",
                    [],
                )
            )
            continue
        columns.append((vectors.name, note, vectors.most_similar(word, k=k)))
    return _columns_html(columns, f"Nearest neighbours of <b>{html.escape(word)}</b> (cosine)")


def analogy_html(models: Sequence[WordVectors], a: str, b: str, c: str, k: int = 5) -> str:
    """a - b + c in each model (3CosAdd: the query words are never answers), e.g. king - man + woman."""
    words = [w.strip().lower() for w in (a, b, c)]
    if not all(words):
        return "<i>Fill in three words.</i>"
    columns = []
    for vectors in _by_name(models):
        missing = [w for w in words if not vectors.can_embed(w)]
        if missing:
            columns.append(
                (
                    vectors.name,
                    f"<b style='color:#c0392b'>cannot answer</b>: {html.escape(', '.join(missing))} not in vocabulary",
                    [],
                )
            )
            continue
        unseen = [w for w in words if w not in vectors]
        note = f"from n-grams: {html.escape(', '.join(unseen))}" if unseen else "all in vocabulary"
        columns.append((vectors.name, note, vectors.most_similar([words[0], words[2]], [words[1]], k=k)))
    title = f"<b>{html.escape(words[0])}</b> - <b>{html.escape(words[1])}</b> + <b>{html.escape(words[2])}</b> ≈ ?"
    return _columns_html(columns, title)


def _columns_html(columns: list[tuple[str, str, list[tuple[str, float]]]], title: str) -> str:
    cells = []
    for name, note, items in columns:
        rows = "".join(f"<tr><td>{html.escape(w)}</td><td style='text-align:right'>{s:.3f}</td></tr>" for w, s in items)
        cells.append(
            f"<td style='vertical-align:top;padding:0 14px'><b>{html.escape(name)}</b><br>"
            f"<small>{note}</small><table>{rows}</table></td>"
        )
    return f"<div>{title}</div><table><tr>{''.join(cells)}</tr></table>"


def projector_figure(
    vectors: WordVectors,
    category: str | None = None,
    *,
    categories: Mapping | None = None,
    background: int = 300,
    method: str = "pca",
    seed: int = 0,
):
    """3-D projection of the `background` most frequent words (grey) plus the chosen category's words, coloured by
    side (e.g. capitals vs countries). Hover a point to read its word."""
    from ptmlab.viz.projector import project

    categories = categories if categories is not None else analogy_categories(vectors)
    if category is not None and category not in categories:
        raise InputError(f"Unknown category {category!r}.", fix=f"Use one of: {', '.join(categories)}.")
    words, colours = [], []
    for side, members in categories[category].items() if category else []:
        for word in members:
            if word not in words:
                words.append(word)
                colours.append(side)
    for word in vectors.words[:background]:
        if word not in words:
            words.append(word)
            colours.append("other frequent words")
    if len(words) < 4:
        raise InputError("Too few words to project.", fix="Raise `background` or choose a category.")
    shown = {"pca": "PCA", "tsne": "t-SNE"}.get(method, method)
    title = f"{vectors.name}: {category or 'most frequent words'} ({shown}, {len(words)} words)"
    figure = project(
        vectors.vectors_for(words),
        words,
        method=method,
        dims=3,
        color=colours,
        title=title,
        seed=seed,
        show_text=len(words) <= 80,
    )
    for trace in figure.data:  # the background is context: small and grey, so the category stands out
        if trace.name == "other frequent words":
            trace.marker.update(color="#bbbbbb", size=2, opacity=0.5)
    return figure


# ============================================================================ training figures
def sampling_figure(words: Sequence[str], counts: Sequence[int], sample: float = 1e-3, top: int = 15):
    """For the most frequent words: unigram share vs the noise share (count^0.75) and the subsampling keep rate."""
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    counts = np.asarray(counts)
    shown = list(words[:top])
    unigram = counts / counts.sum()
    noise = noise_distribution(counts)
    keep = keep_probability(counts, sample)
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("share of draws: unigram vs count^0.75 noise", f"subsampling: P(keep a token), t = {sample:g}"),
    )
    figure.add_trace(go.Bar(x=shown, y=unigram[:top], name="unigram P(w)"), 1, 1)
    figure.add_trace(go.Bar(x=shown, y=noise[:top], name="noise P_n(w) ∝ count^0.75"), 1, 1)
    figure.add_trace(go.Bar(x=shown, y=keep[:top], name="keep probability", marker_color="#27ae60"), 1, 2)
    rare_share = (noise[top:].sum(), unigram[top:].sum())
    figure.update_layout(
        height=360,
        barmode="group",
        margin=dict(l=10, r=10, t=60, b=10),
        title=f"The other {len(counts) - top} words get {rare_share[0]:.0%} of the noise draws "
        f"(vs {rare_share[1]:.0%} of the tokens)",
    )
    return figure


def loss_figure(runs: Sequence[Any]):
    """Training loss curves of ptmlab's runs (each run's `history`), one line per model."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for run in runs:
        if run.history:
            x = [i / max(1, len(run.history) - 1) for i in range(len(run.history))]
            figure.add_trace(go.Scatter(x=x, y=run.history, mode="lines", name=run.name))
    figure.update_layout(
        height=320,
        xaxis_title="fraction of training",
        yaxis_title="loss (log scale)",
        yaxis_type="log",
        margin=dict(l=10, r=10, t=30, b=10),
        title="Training loss",
    )
    return figure


def pick_unseen(vectors: WordVectors, candidates: Sequence[str]) -> str:
    """The first candidate word that `vectors` has never seen (for the out-of-vocabulary demo)."""
    for word in candidates:
        if word not in vectors:
            return word
    return "".join(reversed(candidates[0]))  # every candidate is known: a reversed word surely is not
