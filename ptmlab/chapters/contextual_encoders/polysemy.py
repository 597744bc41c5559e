"""One static vector per word vs one contextual vector per occurrence: why contextual encoders handle polysemy.

Survey Section 2.2 ("static embeddings cannot handle polysemy"); Peters et al. 2018 (ELMo); Ethayarajh 2019 ("How
Contextual are Contextualized Word Representations?": self-similarity); Bommasani et al. 2020 (pooled static vectors)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ptmlab.chapters.contextual_encoders.presets import POLYSEMOUS_WORDS, POLYSEMY_PRESETS, PolysemyPreset
from ptmlab.errors import InputError
from ptmlab.experiment import resolve_preset

# Senses are labelled by cue words in the same sentence: a heuristic, not gold annotation (the extract ships none).
# A sentence with no cue, or with cues of two senses equally often, is labelled "unclear".
SENSE_CUES: dict[str, dict[str, frozenset[str]]] = {
    "play": {
        "drama": frozenset(
            "stage theatre theater drama wrote written tragedy comedy directed playwright hamlet opera "
            "broadway tragedian dramatist performed premiere production".split()
        ),
        "have a role": frozenset("role roles part parts".split()),
        "game or music": frozenset(
            "game games tennis match team player players piano music instrument guitar violin "
            "football tournament season sport sports league".split()
        ),
    },
    "plant": {
        "factory": frozenset(
            "power nuclear hydroelectric coal hydropower electricity energy mw factory manufacturing "
            "steel chemical assembly plants industrial".split()
        ),
        "organism": frozenset(
            "species animal animals flower flowers leaves seeds grow grown crops nutrition tree trees "
            "soil cell cells photosynthesis roots flowering fungi algae".split()
        ),
    },
    "state": {
        "polity": frozenset(
            "government united states governor federal law legislature president capital constitution "
            "nation department county welfare political republic country official elected senate "
            "legislative sovereign".split()
        ),
        "condition": frozenset(
            "ground excited quantum solid liquid gas gaseous physical energy mental mind steady "
            "initial final transition oxidation matter equilibrium stable unstable".split()
        ),
    },
    "record": {
        "best ever": frozenset(
            "holds held broke broken set world title titles won win fastest highest most guinness "
            "all-time breaking".split()
        ),
        "document": frozenset(
            "court appeal written fossil historical archaeological public records official document "
            "documents evidence judicial proceedings".split()
        ),
        "to capture": frozenset("camera film album song sound video studio label music recorded recording".split()),
    },
    "current": {
        "electric": frozenset(
            "electric electrical ampere amperes charge voltage circuit resistance coulomb magnetic "
            "conductor wire flow flows".split()
        ),
        "present": frozenset(
            "account dollar dollars president government form status day today time era version terms "
            "deposits alphabets agricultural now modern".split()
        ),
        "water": frozenset("ocean sea stream water gulf river tide".split()),
    },
    "charge": {
        "electric": frozenset(
            "electron electrons electric positive negative nuclear atom atomic ion ions particles "
            "proton protons coulomb current charged".split()
        ),
        "accusation or duty": frozenset(
            "court crime murder accused arrested trial fee fees tax command commander led "
            "cavalry prosecution guilty police responsible".split()
        ),
    },
    "bank": {
        "finance": frozenset(
            "central world money loan loans banking banks commercial credit financial investment "
            "currency monetary fund development deposits".split()
        ),
        "river": frozenset("river shore coast flood riverbank stream lake".split()),
    },
}
UNCLEAR = "unclear"
# Probing runs one sentence at a time: matrices this small gain little from a second thread, and on a CPU shared with
# other jobs two threads were measured up to 20x slower than one (the threads wait for each other).
PROBE_THREADS = 1


@dataclass
class Occurrence:
    word: str
    sentence: str
    sense: str


def guess_sense(word: str, words: Sequence[str]) -> str:
    """The sense whose cue words occur most often among `words` (a tokenised, lowercased sentence), else 'unclear'."""
    cues = SENSE_CUES.get(word)
    if not cues:
        return UNCLEAR
    counts = {sense: sum(1 for w in words if w in cue and w != word) for sense, cue in cues.items()}
    best = max(counts.values())
    winners = [s for s, c in counts.items() if c == best]
    return winners[0] if best > 0 and len(winners) == 1 else UNCLEAR


def find_occurrences(sentences: Sequence[str], word: str, max_per_word: int = 60, seed: int = 0) -> list[Occurrence]:
    """Sentences that contain `word` as a whole word, each with its guessed sense; sampled evenly across senses."""
    from ptmlab.data.corpora import word_tokens

    word = word.lower()
    found: dict[str, list[Occurrence]] = {}
    for sentence in sentences:
        words = word_tokens(sentence)
        if word in words:
            sense = guess_sense(word, words)
            found.setdefault(sense, []).append(Occurrence(word, sentence, sense))
    if not found:
        raise InputError(
            f"{word!r} does not occur in the corpus.",
            fix=f"Pick a word that occurs several times, e.g. one of {', '.join(POLYSEMOUS_WORDS)}.",
        )
    rng = random.Random(seed)
    for group in found.values():
        rng.shuffle(group)
    # Round-robin over senses (clear senses first) so a frequent sense does not crowd out the rare ones.
    order = sorted(found, key=lambda s: (s == UNCLEAR, -len(found[s])))
    picked: list[Occurrence] = []
    while len(picked) < max_per_word and any(found[s] for s in order):
        for sense in order:
            if found[sense] and len(picked) < max_per_word:
                picked.append(found[sense].pop())
    return picked


def _word_span(pieces: list[str], word_pieces: list[str]) -> int | None:
    n = len(word_pieces)
    for i in range(len(pieces) - n + 1):
        if pieces[i : i + n] == word_pieces:
            return i
    return None


@torch.no_grad()
def contextual_vectors(
    model: torch.nn.Module,
    tokenizer: Any,
    occurrences: Sequence[Occurrence],
    layer: int = -1,
    window: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[Occurrence], np.ndarray]:
    """(contextual [n, d], input embedding [d], kept occurrences, mean [d]) for one word read by a ptmlab MLM.

    contextual: the residual stream after `layer` blocks at the word's position (the mean over its subword pieces;
    before the final LayerNorm, so every layer is on the same footing); input embedding: the model's own static vector
    for the word, the same for every occurrence (it is much shorter than the residual vectors, so the figures use the
    average contextual vector as the static one instead). mean: the average vector of every token of those sentences
    at that layer, which `stats` subtracts before comparing (all residual vectors share a large common direction:
    "anisotropy", Ethayarajh 2019). Sentences longer than the model's window are cut around the word."""
    body = getattr(model, "body", model)
    config = body.config
    n_layers = config.n_layers
    layer = n_layers if layer == -1 else layer
    if not 0 <= layer <= n_layers:
        raise InputError(
            f"layer={layer}, but the model has {n_layers} blocks.",
            fix=f"Pick 0 (the embeddings) to {n_layers}, or -1 for the last.",
        )
    if not occurrences:
        raise InputError("No occurrences to encode.", fix="Use find_occurrences(corpus.sentences, word) first.")
    word = occurrences[0].word
    word_pieces = tokenizer.tokenize(word)
    word_ids = tokenizer.convert_tokens_to_ids(word_pieces)
    if not word_ids or all(i == tokenizer.unk_id for i in word_ids):
        raise InputError(f"{word!r} is unknown to the tokenizer.", fix="Pick a word from the training corpus.")
    device = next(body.parameters()).device
    input_embedding = body.tok_emb.weight[torch.tensor(word_ids, device=device)].mean(0).float().cpu().numpy()
    window = window or config.max_len
    hook = f"blocks.{layer - 1}.resid_post" if layer > 0 else "embed"
    vectors, kept, token_sum, token_count = [], [], 0.0, 0
    for occurrence in occurrences:
        pieces = tokenizer.tokenize(occurrence.sentence)
        start = _word_span(pieces, word_pieces)
        if start is None:
            continue
        body_len = window - 2  # room for [CLS] and [SEP]
        left = max(0, min(start - body_len // 2, len(pieces) - body_len))
        pieces = pieces[left : left + body_len]
        position = start - left + 1
        ids = [tokenizer.cls_id, *tokenizer.convert_tokens_to_ids(pieces), tokenizer.sep_id]
        _, cache = body.run_with_cache(torch.tensor([ids], device=device), names=[hook])
        states = cache[hook][0]
        vectors.append(states[position : position + len(word_pieces)].mean(0).float().cpu().numpy())
        token_sum = token_sum + states.sum(0).float().cpu().numpy()
        token_count += len(states)
        kept.append(occurrence)
    if not vectors:
        raise InputError(f"No sentence could be encoded with {word!r} intact.", fix="Try another word.")
    return np.stack(vectors), input_embedding, kept, token_sum / token_count


def _cosine_matrix(x: np.ndarray) -> np.ndarray:
    unit = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)
    return unit @ unit.T


@dataclass
class WordPolysemy:
    """One word's contextual vectors (one per occurrence) and the static vectors they are compared with."""

    word: str
    vectors: np.ndarray  # [n, d] contextual: one per occurrence
    input_embedding: np.ndarray  # [d] the model's own static input vector for the word (same for every occurrence)
    occurrences: list[Occurrence]
    mean: np.ndarray | None = None  # the layer's average token vector, subtracted before cosines

    @property
    def senses(self) -> list[str]:
        return [o.sense for o in self.occurrences]

    @property
    def static(self) -> np.ndarray:
        """The best single vector for every occurrence at this layer: their average (the pooled static embedding of
        Bommasani et al. 2020). Any static embedding must give all senses one vector; this one sits between them."""
        return self.vectors.mean(0)

    def sense_centres(self, min_count: int = 2) -> dict[str, np.ndarray]:
        """The average vector of each cue-labelled sense with at least `min_count` occurrences."""
        senses = np.array(self.senses)
        return {
            sense: self.vectors[senses == sense].mean(0)
            for sense in dict.fromkeys(self.senses)
            if sense != UNCLEAR and int((senses == sense).sum()) >= min_count
        }

    def stats(self) -> dict[str, Any]:
        """Mean cosines, after subtracting the layer's mean vector: self-similarity (all pairs of occurrences; 1.0
        for any static embedding), same-sense vs cross-sense pairs (cue-labelled senses only), and each occurrence vs
        the word's pooled static vector."""
        offset = self.mean if self.mean is not None else 0.0
        centred = self.vectors - offset
        sims = _cosine_matrix(centred)
        n = len(sims)
        upper = [(i, j) for i in range(n) for j in range(i + 1, n)]
        senses = self.senses
        same = [sims[i, j] for i, j in upper if senses[i] == senses[j] != UNCLEAR]
        cross = [sims[i, j] for i, j in upper if UNCLEAR not in (senses[i], senses[j]) and senses[i] != senses[j]]
        to_static = _cosine_matrix(np.vstack([self.static[None] - offset, centred]))[0, 1:]
        counts = {s: senses.count(s) for s in dict.fromkeys(senses)}
        return {
            "word": self.word,
            "n": n,
            "senses": counts,
            "self_similarity": float(np.mean([sims[i, j] for i, j in upper])) if upper else float("nan"),
            "same_sense": float(np.mean(same)) if same else float("nan"),
            "cross_sense": float(np.mean(cross)) if cross else float("nan"),
            "to_static": float(np.mean(to_static)),
        }


@dataclass
class PolysemyResult:
    words: dict[str, WordPolysemy]
    layer: int
    model_report: str = ""
    skipped: dict[str, str] = field(default_factory=dict)  # word -> why it was left out

    def table(self) -> str:
        lines = [
            "word     |  n | senses (cue-labelled)                      | self-sim | same-sense | cross-sense | to static",
            "---------|----|--------------------------------------------|----------|------------|-------------|----------",
        ]
        for word in self.words:
            s = self.words[word].stats()
            senses = ", ".join(f"{k} {v}" for k, v in s["senses"].items())
            lines.append(
                f"{word:<8} | {s['n']:>2} | {senses[:42]:<42} | {s['self_similarity']:>8.3f} | "
                f"{s['same_sense']:>10.3f} | {s['cross_sense']:>11.3f} | {s['to_static']:>9.3f}"
            )
        lines.append(
            "Mean cosines after subtracting the layer's mean vector. A static embedding gives every occurrence the same "
            "vector (self-similarity 1.000); 'to static' compares each occurrence with the best such vector, the "
            "average of all occurrences."
        )
        for word, why in self.skipped.items():
            lines.append(f"({word}: {why})")
        return "\n".join(lines)

    def figure(self, word: str | None = None, method: str = "pca", dims: int = 2, seed: int = 0):
        """The projector view of one word: its contextual vectors coloured by cue sense, each sense's centre, and the
        one static vector that would have to stand for all of them (their average)."""
        from ptmlab.viz.projector import project

        word = word or next(iter(self.words))
        if word not in self.words:
            raise InputError(f"No vectors for {word!r}.", fix=f"Pick one of {', '.join(self.words)}.")
        item = self.words[word]
        centres = item.sense_centres()
        vectors = np.vstack([item.vectors, item.static[None], *[c[None] for c in centres.values()]])
        labels = (
            [_snippet(o.sentence, word) for o in item.occurrences]
            + [f"static vector of '{word}': one vector for every sentence"]
            + [f"centre of '{word}' as {sense}" for sense in centres]
        )
        colours = (
            [f"{word}: {o.sense}" for o in item.occurrences]
            + ["static vector (average of all)"]
            + ["sense centres"] * len(centres)
        )
        figure = project(
            vectors,
            labels,
            method=method,
            dims=dims,
            color=colours,
            seed=seed,
            show_text=False,
            title=f"'{word}': {len(item.occurrences)} contextual vectors (layer {self.layer}) vs one static vector, "
            f"{method.upper()}",
        )
        for trace in figure.data:  # make the static vector and the sense centres stand out
            if trace.name == "static vector (average of all)":
                trace.marker.update(size=18 if dims == 2 else 9, symbol="star", color="black")
            elif trace.name == "sense centres":
                trace.marker.update(size=13 if dims == 2 else 7, symbol="x", color="#555")
        return figure


def polysemy_probe(
    model: torch.nn.Module,
    tokenizer: Any,
    sentences: Sequence[str],
    words: Sequence[str] = POLYSEMOUS_WORDS,
    *,
    layer: int = -1,
    max_per_word: int = 60,
    seed: int = 0,
) -> PolysemyResult:
    """Contextual vs static vectors for each word, from a trained MLM (`ptmlab.chapters.roadmap.pretrain_mlm(...).model`)."""
    result: dict[str, WordPolysemy] = {}
    skipped: dict[str, str] = {}
    for word in words:
        try:
            occurrences = find_occurrences(sentences, word, max_per_word, seed)
            vectors, input_embedding, kept, mean = contextual_vectors(model, tokenizer, occurrences, layer)
        except InputError as err:
            skipped[word] = err.message
            continue
        if len(kept) < 3:
            skipped[word] = f"only {len(kept)} occurrences"
            continue
        result[word] = WordPolysemy(word, vectors, input_embedding, kept, mean)
    if not result:
        raise InputError("None of the words could be probed.", fix=f"Reasons: {skipped}")
    n_layers = getattr(model, "body", model).config.n_layers
    return PolysemyResult(result, n_layers if layer == -1 else layer, skipped=skipped)


def run_polysemy(
    preset: PolysemyPreset | str | None = None,
    *,
    mlm: Any = None,
    retrain: bool = False,
    live_plot: bool | None = None,
) -> PolysemyResult:
    """Train (or load) the preset's MLM on the Wikipedia extract, then probe its words.

    mlm: chapter 00's recipe, `ptmlab.chapters.roadmap.pretrain_mlm` (so a run cached there is reused here), or a run
    it already returned. It is passed in because no chapter imports another."""
    from ptmlab.chapters.contextual_encoders.agreement import cpu_threads
    from ptmlab.data.corpora import load_corpus

    preset = resolve_preset(POLYSEMY_PRESETS, preset)
    if mlm is None:
        raise InputError(
            "run_polysemy needs chapter 00's MLM recipe.",
            fix="Pass mlm=ptmlab.chapters.roadmap.pretrain_mlm (or a run it returned).",
        )
    if callable(mlm):
        with cpu_threads(preset.threads):  # the smoke model is tiny: one thread wins, most of all on a shared CPU
            run = mlm(preset.mlm_preset, retrain=retrain, live_plot=live_plot, **dict(preset.mlm_overrides))
    else:
        run = mlm
    corpus = load_corpus("wiki")  # occurrences come from the whole extract, whatever slice the MLM trained on
    with cpu_threads(PROBE_THREADS):
        result = polysemy_probe(
            run.model,
            run.tokenizer,
            corpus.sentences,
            preset.words,
            layer=preset.layer,
            max_per_word=preset.max_per_word,
            seed=preset.seed,
        )
    result.model_report = run.report()
    return result


@torch.no_grad()
def hf_contextual_vectors(
    model: Any, tokenizer: Any, occurrences: Sequence[Occurrence], layer: int = -1, max_length: int = 128
) -> tuple[np.ndarray, np.ndarray, list[Occurrence], np.ndarray]:
    """`contextual_vectors` for a Hugging Face encoder (e.g. `ptmlab.models.hf.load_hf_model()`): hidden state
    `layer` (-1: the last) at the word's pieces, its input embedding, the kept occurrences and the layer's mean."""
    if not occurrences:
        raise InputError("No occurrences to encode.", fix="Use find_occurrences(corpus.sentences, word) first.")
    word = occurrences[0].word
    word_ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))
    device = next(model.parameters()).device
    input_embedding = model.get_input_embeddings().weight[torch.tensor(word_ids, device=device)].mean(0)
    vectors, kept, token_sum, token_count = [], [], 0.0, 0
    for occurrence in occurrences:
        encoded = tokenizer(occurrence.sentence, return_tensors="pt", truncation=True, max_length=max_length)
        ids = encoded["input_ids"][0].tolist()
        start = _word_span(ids, word_ids)
        if start is None:
            continue
        out = model(**{k: v.to(device) for k, v in encoded.items()}, output_hidden_states=True)
        states = out.hidden_states[layer][0]
        vectors.append(states[start : start + len(word_ids)].mean(0).float().cpu().numpy())
        token_sum = token_sum + states.sum(0).float().cpu().numpy()
        token_count += len(states)
        kept.append(occurrence)
    if not vectors:
        raise InputError(f"No sentence could be encoded with {word!r} intact.", fix="Try another word.")
    return np.stack(vectors), input_embedding.float().cpu().numpy(), kept, token_sum / token_count


def run_pretrained_polysemy(preset: PolysemyPreset | str | None = None, name: str = "all-MiniLM-L6-v2"):
    """The same probe on a real pretrained encoder (all-MiniLM-L6-v2, an optional extra), for comparison with our
    small MLM. Returns None, saying why, when the model or `transformers` is not installed."""
    from ptmlab.chapters.contextual_encoders.agreement import cpu_threads
    from ptmlab.data.corpora import load_corpus
    from ptmlab.errors import PtmlabError

    preset = resolve_preset(POLYSEMY_PRESETS, preset)
    try:
        from ptmlab.models.hf import load_hf_model

        model, tokenizer = load_hf_model(name)
    except (PtmlabError, ImportError) as err:
        print(f"Skipping the pretrained comparison: {getattr(err, 'message', err)} {getattr(err, 'fix', '') or ''}")
        return None
    sentences = load_corpus("wiki").sentences
    words, skipped = {}, {}
    with cpu_threads(PROBE_THREADS):
        for word in preset.words:
            try:
                occurrences = find_occurrences(sentences, word, preset.max_per_word, preset.seed)
                vectors, embedding, kept, mean = hf_contextual_vectors(model, tokenizer, occurrences, preset.layer)
            except InputError as err:
                skipped[word] = err.message
                continue
            words[word] = WordPolysemy(word, vectors, embedding, kept, mean)
    n_layers = model.config.num_hidden_layers
    layer = n_layers if preset.layer == -1 else preset.layer
    report = (
        f"{name}: a MiniLM encoder ({n_layers} layers, d={model.config.hidden_size}) that Sentence-Transformers "
        "fine-tuned on about a billion sentence pairs: far more training than our MLM"
    )
    return PolysemyResult(words, layer, model_report=report, skipped=skipped)


def _snippet(sentence: str, word: str, width: int = 70) -> str:
    lower = sentence.lower()
    at = lower.find(word)
    start = max(0, at - width // 2)
    text = sentence[start : start + width]
    return ("…" if start > 0 else "") + text + ("…" if start + width < len(sentence) else "")


__all__ = [
    "POLYSEMOUS_WORDS",
    "POLYSEMY_PRESETS",
    "PolysemyPreset",
    "PolysemyResult",
    "SENSE_CUES",
    "WordPolysemy",
    "contextual_vectors",
    "find_occurrences",
    "guess_sense",
    "hf_contextual_vectors",
    "polysemy_probe",
    "run_pretrained_polysemy",
    "run_polysemy",
]
