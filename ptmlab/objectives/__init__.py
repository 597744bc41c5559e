"""Pre-training objectives (survey Section 3.1 and its Table 1): one module per task, one `Objective` interface.

`CATALOGUE` lists every objective the course implements, where its class lives, the paper it follows and what its loss
is computed over; `objective_class(name)` imports one on demand, so `import ptmlab.objectives` stays cheap.
`make_objective(name, tokenizer, **options)` builds any of them the same way (scikit-learn style: one call for all),
filling in what each needs from the tokenizer: its vocabulary size, [MASK] id, word boundaries or T5 sentinels."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    module: str  # under ptmlab.objectives
    cls: str
    section: str  # of the survey
    chapter: str  # the notebook that trains and shows it
    paper: str
    architecture: str  # encoder / decoder / encoder-decoder / two encoders (generator + discriminator)
    predicts: str  # which tokens (or pairs) the loss is computed over: ELECTRA Table 5's question

    def load(self) -> type:
        return getattr(import_module(f"ptmlab.objectives.{self.module}"), self.cls)


CATALOGUE: dict[str, CatalogueEntry] = {
    entry.name: entry
    for entry in [
        CatalogueEntry("lm", "lm", "CausalLM", "3.1.1", "04, 09", "Radford et al. 2018, GPT", "decoder",
                       "every next token"),
        CatalogueEntry("bilm", "bilm", "BiLM", "3.1.1", "04", "Peters et al. 2018, ELMo", "two LSTMs",
                       "every next and previous token"),
        CatalogueEntry("mlm", "mlm", "MaskedLM", "3.1.2", "00, 05, 09", "Devlin et al. 2019, BERT", "encoder",
                       "15% of tokens (80/10/10)"),
        CatalogueEntry("static", "masking", "StaticMasking", "3.1.2", "05", "Devlin et al. 2019 (static); Liu et al. 2019, RoBERTa",
                       "encoder", "15% of tokens, the same masks every epoch"),
        CatalogueEntry("whole_word", "masking", "WholeWordMasking", "3.1.2", "05, 09", "Cui et al. 2019; Devlin et al. 2019, BERT",
                       "encoder", "15% of tokens, whole words"),
        CatalogueEntry("span", "masking", "SpanMasking", "3.1.2", "05, 09", "Joshi et al. 2020, SpanBERT", "encoder",
                       "15% of tokens, geometric spans"),
        CatalogueEntry("entity", "masking", "EntityMasking", "3.1.2", "05, 09", "Sun et al. 2019, ERNIE (Baidu)",
                       "encoder", "15% of tokens, entities and phrases"),
        CatalogueEntry("tlm", "masking", "TranslationLM", "3.1.2", "05", "Lample and Conneau 2019, XLM", "encoder",
                       "15% of tokens of a sentence pair in two languages"),
        CatalogueEntry("mass", "seq2seq", "MASS", "3.1.2", "06, 09", "Song et al. 2019, MASS", "encoder-decoder",
                       "one masked fragment (half the sentence)"),
        CatalogueEntry("t5_span", "seq2seq", "T5SpanCorruption", "3.1.2", "06, 09", "Raffel et al. 2020, T5",
                       "encoder-decoder", "15% of tokens, spans behind sentinels"),
        CatalogueEntry("dae", "dae", "DenoisingAutoencoder", "3.1.4", "06, 09", "Lewis et al. 2020, BART",
                       "encoder-decoder", "every token of the original document"),
        CatalogueEntry("plm", "plm", "PermutedLM", "3.1.3", "07, 09", "Yang et al. 2019, XLNet", "two-stream encoder",
                       "the last 1/K of a sampled factorization order"),
        CatalogueEntry("rtd", "rtd", "ReplacedTokenDetection", "3.1.5", "08, 09", "Clark et al. 2020, ELECTRA",
                       "generator + discriminator", "every token (replaced or original?)"),
        CatalogueEntry("sentence_pair", "sentence", "SentencePairObjective", "3.1.5", "08, 09",
                       "Devlin et al. 2019 (NSP); Lan et al. 2020, ALBERT (SOP)", "encoder",
                       "15% of tokens + one label per sentence pair"),
        CatalogueEntry("infonce", "contrastive", "InfoNCEObjective", "3.1.5", "08, 09", "Kong et al. 2020, InfoWord",
                       "encoder", "one masked n-gram against in-batch negatives"),
    ]
}  # fmt: skip


def objective_class(name: str) -> type:
    """The class of a catalogued objective, imported on demand."""
    from ptmlab.errors import InputError

    if name not in CATALOGUE:
        raise InputError(f"No objective called {name!r}.", fix=f"Use one of: {', '.join(CATALOGUE)}.")
    return CATALOGUE[name].load()


def make_objective(name: str, tokenizer, **options):
    """An objective from the catalogue, configured for `tokenizer`; `options` go to its constructor (e.g. mask_prob,
    predict_all=True for MLM, discriminate="masked" for RTD, noising="sentence_permutation" for DAE, kind="sop" for
    sentence_pair). 'static' wraps `options.pop("strategy", "mlm")`, itself built by this function.

    T5 span corruption needs sentinel tokens: pass a tokenizer from ptmlab.objectives.seq2seq.add_sentinels."""
    from ptmlab.errors import InputError

    cls = objective_class(name)
    special = tuple(tokenizer.special_ids)
    if name in ("whole_word", "span", "entity"):
        return cls.from_tokenizer(tokenizer, **options)
    if name == "static":
        strategy = options.pop("strategy", "mlm")
        if strategy == "static":
            raise InputError("Static masking cannot wrap itself.", fix="Use strategy='mlm', 'span', ...")
        return cls(make_objective(strategy, tokenizer), **options)
    if name in ("mlm", "tlm", "rtd", "sentence_pair", "infonce"):
        options.setdefault("special_ids", special)
        if name != "sentence_pair":
            options.setdefault("mask_id", tokenizer.mask_id)
        return cls(tokenizer.vocab_size, **options)
    if name == "t5_span":
        from ptmlab.objectives.seq2seq import sentinel_ids

        sentinels = sentinel_ids(tokenizer)
        if not sentinels:
            raise InputError(
                "T5 span corruption needs sentinel tokens, and this tokenizer has none.",
                fix="tokenizer = ptmlab.objectives.seq2seq.add_sentinels(tokenizer) before training it.",
            )
        return cls(sentinels, special_ids=special, **options)
    if name in ("mass", "dae"):
        options.setdefault("mask_id", tokenizer.mask_id)
    return cls(special_ids=special, **options)  # lm, bilm, plm, mass, dae
