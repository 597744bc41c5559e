"""Attention views: bertviz's head, model and neuron views rendered offline, and plotly heatmaps of the same weights.

Vig (2019), "A Multiscale Visualization of Attention in the Transformer Model" (bertviz); Clark et al. (2019), "What Does
BERT Look At?"; survey section 4 (Qiu et al., 2020) on what attention in pre-trained models encodes.

bertviz's JavaScript loads d3 and jQuery from the network through require.js, so it draws nothing offline and nothing in
JupyterLab ("require is not defined"). We keep bertviz untouched and wrap what it returns: a standalone HTML document that
inlines d3 and jQuery (from installed wheels) and a tiny `require` shim, shown in an iframe with `srcdoc`. Each view gets
its own iframe, so several views (and several neuron views, which use a global) live in one notebook.
"""

from __future__ import annotations

import html as html_lib
import inspect
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptmlab.errors import InputError
from ptmlab.viz import _assets

if TYPE_CHECKING:  # torch, plotly and bertviz are imported lazily so `import ptmlab.viz` stays cheap
    import plotly.graph_objects as go
    import torch

__all__ = [
    "AttentionView",
    "head_view",
    "model_view",
    "neuron_view",
    "attention_heatmap",
    "attention_heatmap_grid",
]

NEURON_MODEL_TYPES = ("bert", "gpt2", "xlnet", "roberta")
MODEL_VIEW_MIN_GRID_HEADS = 6  # model-view thumbnails are sized as if there were at least this many heads


# ----------------------------------------------------------------------------- the view object
class AttentionView:
    """One bertviz view as a standalone, offline HTML document; displays itself in Jupyter inside an iframe.

    `html` is the whole document (open it in any browser without a network); `iframe_html()` wraps it for a notebook
    output; `save(path)` writes it to disk."""

    def __init__(
        self, html: str, *, kind: str, tokens: Sequence[str], estimated_height: int, height: int | None = None
    ):
        self.html = html
        self.kind = kind
        self.tokens = list(tokens)
        self.estimated_height = int(estimated_height)
        self.height = height

    def iframe_html(self, height: int | None = None) -> str:
        """An <iframe srcdoc=...> holding the document. With no height, the frame grows to fit what bertviz draws."""
        height = height if height is not None else self.height
        autosize = height is None
        frame_id = f"ptmlab-attention-{uuid.uuid4().hex[:12]}"
        initial_height = int(height) if height is not None else self.estimated_height
        srcdoc = html_lib.escape(self.html, quote=True)
        frame = (
            f'<iframe id="{frame_id}" class="ptmlab-attention-frame" data-ptmlab-view="{self.kind}" '
            f'data-ptmlab-autosize="{1 if autosize else 0}" title="bertviz {self.kind} view" '
            f'style="width:100%;height:{initial_height}px;border:0;display:block;overflow:auto" '
            f'srcdoc="{srcdoc}"></iframe>'
        )
        if not autosize:
            return frame
        # Inside the frame, _FIT_FRAME_JS resizes window.frameElement directly (srcdoc frames share the notebook's
        # origin). Where the parent is another origin (some notebook front ends), it posts its height instead:
        # this listener picks up messages from its own frame only.
        listener = (
            "<script>(function(){var f=document.getElementById(" + repr(frame_id).replace("'", '"') + ");"
            "if(!f)return;window.addEventListener('message',function(e){var d=e.data;"
            "if(!d||typeof d.ptmlabHeight!=='number'||e.source!==f.contentWindow)return;"
            "f.style.height=d.ptmlabHeight+'px';});})();</script>"
        )
        return frame + listener

    def _repr_html_(self) -> str:
        return self.iframe_html()

    def save(self, path: str | Path) -> Path:
        """Write the standalone document (it opens offline in a browser); returns the path written."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html, encoding="utf-8")
        return path

    def __repr__(self) -> str:
        return f"AttentionView(kind={self.kind!r}, tokens={len(self.tokens)}, html={len(self.html):,} chars)"


# Runs inside the frame: measure the drawn content and size the iframe to it (no scrollbars, no clipping).
_FIT_FRAME_JS = """
(function () {
  var root = document.getElementById("ptmlab-root");
  var last = 0;
  function fit() {
    var height = Math.ceil(root.getBoundingClientRect().height) + 24;  /* room for a horizontal scrollbar */
    if (Math.abs(height - last) < 2) { return; }
    last = height;
    try {
      var frame = window.frameElement;
      if (frame && frame.getAttribute("data-ptmlab-autosize") === "1") { frame.style.height = height + "px"; }
    } catch (err) { /* parent on another origin: the message below does it */ }
    try { if (window.parent !== window) { window.parent.postMessage({ptmlabHeight: height}, "*"); } } catch (err) {}
  }
  if (window.ResizeObserver) { new ResizeObserver(fit).observe(root); }
  window.addEventListener("load", fit);
  setTimeout(fit, 0);
})();
"""

_PAGE_CSS = """
html, body { margin: 0; padding: 0; background: #ffffff; }
#ptmlab-root { display: inline-block; min-width: 100%; padding: 4px 0 0 4px; box-sizing: border-box; }
#ptmlab-root select { font-size: 13px; }
"""

# bertviz's network loads: an external <script src="http..."> (require.js) and the require.config({paths: ...}) call.
_EXTERNAL_SCRIPT_TAG = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script\s*>", re.IGNORECASE)
_REQUIRE_CONFIG_CALL = re.compile(r"require\.config\(\s*\{.*?\}\s*\)\s*;?", re.DOTALL)
_ABSOLUTE_URL = re.compile(r"""https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s'"<>`)]*""", re.IGNORECASE)
_COMMENT_LINE = re.compile(r"^[ \t]*(?://|/\*|\*).*$", re.MULTILINE)


def _neutralise_urls(text: str) -> str:
    """Remove bertviz's network loads (the require.js script tag and the require.config paths), and blank the URLs in
    its comment lines too, so no URL survives into a page that claims to be offline. Code and data lines (the JSON
    with the user's tokens) are left alone: a token may legitimately look like a URL."""
    text = _EXTERNAL_SCRIPT_TAG.sub("", text)
    text = _REQUIRE_CONFIG_CALL.sub("/* ptmlab: module paths come from the offline shim */", text)
    return _COMMENT_LINE.sub(lambda line: _ABSOLUTE_URL.sub("about:blank", line.group(0)), text)


def standalone_document(bertviz_html: str, *, title: str) -> str:
    """Wrap an HTML fragment from bertviz (`html_action="return"`) into a complete page that renders with no network."""
    body = _neutralise_urls(bertviz_html)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html_lib.escape(title)}</title>\n<style>{_PAGE_CSS}</style>\n"
        f'<script data-asset="jquery">\n{_assets.jquery_js()}\n</script>\n'
        f'<script data-asset="d3">\n{_assets.d3_js()}\n</script>\n'
        f'<script data-asset="require-shim">{_assets.REQUIRE_SHIM_JS}</script>\n'
        "</head>\n<body>\n"
        f'<div id="ptmlab-root">\n{body}\n</div>\n'
        f"<script>{_FIT_FRAME_JS}</script>\n"
        "</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------- input checks
def _to_tensor(value: Any, what: str) -> torch.Tensor:
    import numpy as np
    import torch

    if value is None:
        raise InputError(
            f"{what} is None.",
            fix="Ask the model for attention weights: output_attentions=True (Hugging Face models need "
            "attn_implementation='eager'; ptmlab models return them from run_with_cache).",
        )
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        try:
            tensor = torch.as_tensor(np.asarray(value, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise InputError(f"{what} is not numeric ({type(value).__name__}).", fix="Pass tensors or arrays.") from err
    if not (tensor.is_floating_point() or tensor.dtype in (torch.int32, torch.int64)):
        raise InputError(f"{what} has dtype {tensor.dtype}; attention weights are floats.", fix="Pass float weights.")
    return tensor.to("cpu", torch.float32)


def _attention_layers(attentions: Any, what: str = "attentions") -> list[torch.Tensor]:
    """Accept one tensor per layer ([1,H,Tq,Tk] or [H,Tq,Tk]) or a stacked [L,H,Tq,Tk] / [L,1,H,Tq,Tk] tensor.

    Returns a list of float32 CPU tensors shaped [1, H, Tq, Tk], the form bertviz expects."""
    import numpy as np
    import torch

    shape_help = f"Pass a list with one tensor per layer shaped [1, heads, T, T] or [heads, T, T], or a stacked [layers, heads, T, T] tensor, as {what}."
    if isinstance(attentions, (torch.Tensor, np.ndarray)):
        stacked = _to_tensor(attentions, what)
        if stacked.dim() == 5:
            if stacked.shape[1] != 1:
                raise InputError(
                    f"{what} has batch size {stacked.shape[1]} (shape {tuple(stacked.shape)}); a view shows one example.",
                    fix=f"Select one example, e.g. {what}[:, i:i+1].",
                )
            layers = list(stacked)
        elif stacked.dim() == 4:
            layers = [layer.unsqueeze(0) for layer in stacked]
        elif stacked.dim() == 3:
            layers = [stacked.unsqueeze(0)]
        else:
            raise InputError(f"{what} has shape {tuple(stacked.shape)}.", fix=shape_help)
    elif isinstance(attentions, Sequence) and not isinstance(attentions, (str, bytes)):
        if len(attentions) == 0:
            raise InputError(f"{what} is empty.", fix=shape_help)
        layers = []
        for index, layer in enumerate(attentions):
            tensor = _to_tensor(layer, f"{what}[{index}]")
            if tensor.dim() == 3:
                tensor = tensor.unsqueeze(0)
            elif tensor.dim() == 4:
                if tensor.shape[0] != 1:
                    raise InputError(
                        f"{what}[{index}] has batch size {tensor.shape[0]} (shape {tuple(tensor.shape)}); "
                        "a view shows one example.",
                        fix=f"Select one example from every layer, e.g. [a[i:i+1] for a in {what}].",
                    )
            else:
                raise InputError(f"{what}[{index}] has shape {tuple(tensor.shape)}.", fix=shape_help)
            layers.append(tensor)
    else:
        raise InputError(f"{what} is a {type(attentions).__name__}.", fix=shape_help)

    first = tuple(layers[0].shape)
    for index, layer in enumerate(layers):
        if tuple(layer.shape) != first:
            raise InputError(
                f"{what}[{index}] has shape {tuple(layer.shape)} but {what}[0] has {first}.",
                fix="Every layer must have the same number of heads and tokens.",
            )
        if layer.shape[1] == 0 or layer.shape[2] == 0 or layer.shape[3] == 0:
            raise InputError(f"{what}[{index}] has an empty dimension {tuple(layer.shape)}.", fix=shape_help)
        if not torch.isfinite(layer).all():
            raise InputError(f"{what}[{index}] contains NaN or infinite weights.", fix="Check the model's masking.")
    return layers


def _for_json(layers: list[torch.Tensor], decimals: int = 5) -> list[torch.Tensor]:
    """bertviz writes every weight into the page as JSON; float32 prints as 0.12345679104328156. Rounded float64
    prints as 0.12346, which makes the page several times smaller and looks the same."""
    return [layer.double().round(decimals=decimals) for layer in layers]


def _check_tokens(tokens: Any, expected: int, what: str, attention_what: str) -> list[str]:
    if tokens is None:
        raise InputError(f"{what} is missing.", fix=f"Pass the {expected} token strings that {attention_what} covers.")
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise InputError(
            f"{what} must be a list of token strings, not {type(tokens).__name__}.",
            fix="Use tokenizer.tokenize(text) (plus special tokens) or convert ids with the tokenizer.",
        )
    if len(tokens) != expected:
        raise InputError(
            f"{attention_what} covers {expected} positions but {what} has {len(tokens)} tokens.",
            fix="Pass exactly one token string per position, special tokens ([CLS], [SEP]) included.",
        )
    bad = [t for t in tokens if not isinstance(t, str)]
    if bad:
        raise InputError(f"{what} contains non-strings such as {bad[0]!r}.", fix="Pass token strings, not ids.")
    return [_script_safe_token(t) for t in tokens]


def _script_safe_token(token: str) -> str:
    """bertviz writes tokens into a <script> as JSON; a literal '</script' or '<!--' would cut the script short.
    A zero-width word joiner keeps the text looking the same."""
    token = re.sub(r"</(script)", "<\u2060/\\1", token, flags=re.IGNORECASE)
    return token.replace("<!--", "<\u2060!--")


def _check_index(value: int | None, count: int, what: str) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < count:
        raise InputError(f"{what}={value!r} is out of range.", fix=f"Use an integer from 0 to {count - 1}.")


def _check_indices(values: Sequence[int] | None, count: int, what: str) -> list[int] | None:
    if values is None:
        return None
    if isinstance(values, int):
        values = [values]
    values = list(values)
    if not values:
        raise InputError(f"{what} is empty.", fix=f"Pass None for all, or some of 0..{count - 1}.")
    for value in values:
        _check_index(value, count, what)
    return values


class _BertvizInputs:
    """Validated attention data for bertviz's head and model views (self-attention or encoder-decoder)."""

    def __init__(
        self,
        attentions: Any,
        tokens: Any,
        encoder_attention: Any,
        decoder_attention: Any,
        cross_attention: Any,
        encoder_tokens: Any,
        decoder_tokens: Any,
    ):
        seq2seq_given = any(
            x is not None
            for x in (encoder_attention, decoder_attention, cross_attention, encoder_tokens, decoder_tokens)
        )
        self.kwargs: dict[str, Any] = {}
        if attentions is not None:
            if seq2seq_given:
                raise InputError(
                    "Both `attentions` (self-attention) and encoder-decoder arguments were given.",
                    fix="Use attentions+tokens for an encoder or a decoder, or the encoder_/decoder_/cross_ keywords "
                    "for an encoder-decoder model, not both.",
                )
            layers = _attention_layers(attentions, "attentions")
            _, heads, queries, keys = layers[0].shape
            if queries != keys:
                raise InputError(
                    f"Self-attention must be square but attentions has {queries} queries and {keys} keys.",
                    fix="For cross-attention use cross_attention= with encoder_tokens= and decoder_tokens=.",
                )
            self.tokens = _check_tokens(tokens, queries, "tokens", "attentions")
            self.kwargs = {"attention": _for_json(layers), "tokens": self.tokens}
            self.n_layers, self.n_heads, self.max_tokens = len(layers), heads, queries
            return
        if not seq2seq_given:
            raise InputError(
                "No attention weights were given.",
                fix="Pass attentions and tokens, or encoder_attention / decoder_attention / cross_attention with "
                "encoder_tokens / decoder_tokens.",
            )
        shapes: dict[str, tuple[int, int, int, int]] = {}
        enc_len = dec_len = None
        if encoder_attention is not None:
            layers = _attention_layers(encoder_attention, "encoder_attention")
            shapes["encoder"] = (len(layers), *layers[0].shape[1:])
            enc_len = layers[0].shape[2]
            if layers[0].shape[3] != enc_len:
                raise InputError("encoder_attention must be square [heads, T_enc, T_enc].", fix="Check the tensors.")
            self.kwargs["encoder_attention"] = _for_json(layers)
        if decoder_attention is not None:
            layers = _attention_layers(decoder_attention, "decoder_attention")
            shapes["decoder"] = (len(layers), *layers[0].shape[1:])
            dec_len = layers[0].shape[2]
            if layers[0].shape[3] != dec_len:
                raise InputError("decoder_attention must be square [heads, T_dec, T_dec].", fix="Check the tensors.")
            self.kwargs["decoder_attention"] = _for_json(layers)
        if cross_attention is not None:
            layers = _attention_layers(cross_attention, "cross_attention")
            shapes["cross"] = (len(layers), *layers[0].shape[1:])
            cross_dec, cross_enc = layers[0].shape[2], layers[0].shape[3]
            if dec_len is not None and cross_dec != dec_len:
                raise InputError(
                    f"cross_attention has {cross_dec} decoder positions but decoder_attention has {dec_len}.",
                    fix="cross_attention is [heads, T_dec, T_enc]: queries from the decoder, keys from the encoder.",
                )
            if enc_len is not None and cross_enc != enc_len:
                raise InputError(
                    f"cross_attention has {cross_enc} encoder positions but encoder_attention has {enc_len}.",
                    fix="cross_attention is [heads, T_dec, T_enc]: queries from the decoder, keys from the encoder.",
                )
            dec_len, enc_len = cross_dec, cross_enc
            self.kwargs["cross_attention"] = _for_json(layers)
        if enc_len is not None:
            self.kwargs["encoder_tokens"] = _check_tokens(encoder_tokens, enc_len, "encoder_tokens", "the encoder side")
        if dec_len is not None:
            self.kwargs["decoder_tokens"] = _check_tokens(decoder_tokens, dec_len, "decoder_tokens", "the decoder side")
        layer_counts = {name: shape[0] for name, shape in shapes.items()}
        head_counts = {name: shape[1] for name, shape in shapes.items()}
        if len(set(layer_counts.values())) > 1 or len(set(head_counts.values())) > 1:
            raise InputError(
                f"Encoder, decoder and cross attention differ in layers {layer_counts} or heads {head_counts}.",
                fix="Pass the same layers of each stack (bertviz shows one layer index for all three).",
            )
        self.tokens = list(self.kwargs.get("encoder_tokens", [])) + list(self.kwargs.get("decoder_tokens", []))
        self.n_layers = next(iter(layer_counts.values()))
        self.n_heads = next(iter(head_counts.values()))
        self.max_tokens = max(enc_len or 0, dec_len or 0)


# ----------------------------------------------------------------------------- head and model views
def head_view(
    attentions: Any = None,
    tokens: Sequence[str] | None = None,
    *,
    layer: int | None = None,
    heads: Sequence[int] | None = None,
    sentence_b_start: int | None = None,
    height: int | None = None,
    encoder_attention: Any = None,
    decoder_attention: Any = None,
    cross_attention: Any = None,
    encoder_tokens: Sequence[str] | None = None,
    decoder_tokens: Sequence[str] | None = None,
) -> AttentionView:
    """bertviz head view: lines from each token to the tokens it attends to, one colour per head, for one layer.

    attentions: one tensor per layer shaped [1, H, T, T] or [H, T, T], or a stacked [L, H, T, T] tensor; tokens: T strings.
    For encoder-decoder models pass encoder_attention / decoder_attention / cross_attention and encoder_tokens /
    decoder_tokens instead. layer / heads pick what is shown first; sentence_b_start splits a sentence pair."""
    from bertviz import head_view as bertviz_head_view

    data = _BertvizInputs(
        attentions, tokens, encoder_attention, decoder_attention, cross_attention, encoder_tokens, decoder_tokens
    )
    _check_index(layer, data.n_layers, "layer")
    heads = _check_indices(heads, data.n_heads, "heads")
    if sentence_b_start is not None:
        if attentions is None:
            raise InputError("sentence_b_start applies to self-attention only.", fix="Drop sentence_b_start.")
        if not isinstance(sentence_b_start, int) or not 0 < sentence_b_start < data.max_tokens:
            raise InputError(
                f"sentence_b_start={sentence_b_start!r} is not inside the {data.max_tokens} tokens.",
                fix="Pass the index of the first token of sentence B (after the first [SEP]).",
            )
    fragment = bertviz_head_view(
        **data.kwargs, sentence_b_start=sentence_b_start, layer=layer, heads=heads, html_action="return"
    ).data
    estimated = int(data.max_tokens * 22.5 + 30 + 70)
    document = standalone_document(fragment, title="ptmlab · attention head view")
    return AttentionView(document, kind="head", tokens=data.tokens, estimated_height=estimated, height=height)


def model_view(
    attentions: Any = None,
    tokens: Sequence[str] | None = None,
    *,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    height: int | None = None,
    display_mode: str = "light",
    encoder_attention: Any = None,
    decoder_attention: Any = None,
    cross_attention: Any = None,
    encoder_tokens: Sequence[str] | None = None,
    decoder_tokens: Sequence[str] | None = None,
) -> AttentionView:
    """bertviz model view: a thumbnail of every head in every layer; click one to enlarge it.

    Same inputs as head_view; layers / heads restrict the grid (fewer thumbnails draw faster for long inputs)."""
    from bertviz import model_view as bertviz_model_view

    data = _BertvizInputs(
        attentions, tokens, encoder_attention, decoder_attention, cross_attention, encoder_tokens, decoder_tokens
    )
    layers = _check_indices(layers, data.n_layers, "layers")
    heads = _check_indices(heads, data.n_heads, "heads")
    if display_mode not in ("light", "dark"):
        raise InputError(f"display_mode={display_mode!r}.", fix="Use 'light' or 'dark'.")
    fragment = bertviz_model_view(
        **data.kwargs, include_layers=layers, include_heads=heads, display_mode=display_mode, html_action="return"
    ).data
    fragment = _compact_thumbnails(fragment)
    shown_layers = len(layers) if layers else data.n_layers
    shown_heads = len(heads) if heads else data.n_heads
    thumbnail_box = 7 * 12 / max(shown_heads, MODEL_VIEW_MIN_GRID_HEADS)
    grid = shown_layers * (data.max_tokens * thumbnail_box + 10) + 38
    detail = data.max_tokens * 18 + 30 + 25
    estimated = int(max(grid, detail) + 60)
    document = standalone_document(fragment, title="ptmlab · attention model view")
    return AttentionView(document, kind="model", tokens=data.tokens, estimated_height=estimated, height=height)


def _compact_thumbnails(fragment: str) -> str:
    """bertviz sizes model-view thumbnails for 12 heads (7 px per token row, 970 px / heads wide): a small model with
    2 heads gets 42 px rows and half-page-wide thumbnails. Size the grid as if there were at least 6 heads."""
    return re.sub(
        r"/\s*config\.totalHeads\b",
        f"/ Math.max(config.totalHeads, {MODEL_VIEW_MIN_GRID_HEADS})",
        fragment,
    )


# ----------------------------------------------------------------------------- neuron view
class _NeuronModelAdapter:
    """Presents a ptmlab or Hugging Face model the way bertviz's neuron view expects: called with token ids, it returns
    a tuple whose last item is, per layer, {'attn': [1,H,T,T], 'queries': [1,H,T,d], 'keys': [1,H,T,d]}."""

    def __init__(self, model: Any):
        self.model = model
        self.kind = "ptmlab" if hasattr(model, "run_with_cache") else "hf" if _looks_like_hf(model) else None
        if self.kind is None:
            raise InputError(
                f"neuron_view cannot read queries and keys from a {type(model).__name__}.",
                fix="Pass a ptmlab model (it has run_with_cache) or a Hugging Face BERT/GPT-2-like model.",
            )

    def eval(self) -> _NeuronModelAdapter:
        self.model.eval()
        return self

    def __call__(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> tuple[Any, ...]:
        import torch

        device = _model_device(self.model)
        input_ids = input_ids.to(device)
        if token_type_ids is not None:
            token_type_ids = token_type_ids.to(device)
        with torch.no_grad():
            if self.kind == "ptmlab":
                layers = _ptmlab_queries_keys(self.model, input_ids, token_type_ids)
            else:
                from ptmlab.models.hf import hf_queries_keys

                layers = hf_queries_keys(self.model, input_ids, token_type_ids=token_type_ids)
        return (None, layers)


def _accepts_keyword(model: Any, name: str) -> bool:
    """Whether run_with_cache (or the forward it passes **kwargs on to) takes keyword `name`."""
    for function in (model.run_with_cache, getattr(model, "forward", None)):
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            continue
        if name in parameters:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return False
    return False


def _looks_like_hf(model: Any) -> bool:
    return type(model).__module__.startswith("transformers.") and hasattr(model, "config")


def _model_device(model: Any) -> torch.device:
    import torch

    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration, TypeError):
        return torch.device("cpu")


def _ptmlab_queries_keys(
    model: Any, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None
) -> list[dict[str, torch.Tensor]]:
    """Read q, k and the pattern of every layer from a ptmlab model's named hook points (blocks.{i}.attn.*).

    Names are matched by suffix, so a task model wrapping the encoder (e.g. `encoder.blocks.0.attn.q`) works too."""
    kwargs: dict[str, Any] = {}
    if token_type_ids is not None and _accepts_keyword(model, "token_type_ids"):
        kwargs["token_type_ids"] = token_type_ids
    _, cache = model.run_with_cache(input_ids, **kwargs)

    def lookup(name: str) -> torch.Tensor:
        for key, value in cache.items():
            if key == name or key.endswith("." + name):
                return value.detach().float().cpu()
        raise InputError(
            f"The model's run_with_cache did not record {name}.",
            fix="neuron_view needs the hook points blocks.{i}.attn.q / .k / .pattern of every layer.",
        )

    layers = []
    for i in range(model.config.n_layers):
        pattern, queries, keys = (lookup(f"blocks.{i}.attn.{part}") for part in ("pattern", "q", "k"))
        layers.append({"attn": pattern[:1], "queries": queries[:1], "keys": keys[:1]})
    # Rounded float64 keeps the JSON bertviz writes into the page short (float32 prints ~17 digits per number).
    return [
        {name: value.double().round(decimals=5 if name == "attn" else 4) for name, value in layer.items()}
        for layer in layers
    ]


class _TokenizerAdapter:
    """The four tokenizer members bertviz's neuron view uses, checked up front so errors name the missing piece."""

    def __init__(self, tokenizer: Any, model_type: str):
        for member in ("tokenize", "convert_tokens_to_ids"):
            if not callable(getattr(tokenizer, member, None)):
                raise InputError(
                    f"The tokenizer ({type(tokenizer).__name__}) has no {member}() method.",
                    fix="Pass a ptmlab tokenizer or a Hugging Face tokenizer.",
                )
        self.tokenizer = tokenizer
        self.cls_token = getattr(tokenizer, "cls_token", None)
        self.sep_token = getattr(tokenizer, "sep_token", None)
        if model_type in ("bert", "roberta", "xlnet") and not (self.cls_token and self.sep_token):
            raise InputError(
                f"model_type={model_type!r} wraps text in cls/sep tokens but this tokenizer has none.",
                fix="Use model_type='gpt2' for a left-to-right model without [CLS]/[SEP].",
            )

    def tokenize(self, text: str) -> list[str]:
        return list(self.tokenizer.tokenize(text))

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]:
        ids = self.tokenizer.convert_tokens_to_ids(tokens)
        return [ids] if isinstance(ids, int) else list(ids)


def neuron_view(
    model: Any,
    tokenizer: Any,
    text: str,
    *,
    layer: int = 0,
    head: int = 0,
    model_type: str = "bert",
    text_b: str | None = None,
    display_mode: str = "light",
    height: int | None = None,
) -> AttentionView:
    """bertviz neuron view: for one head, the query and key vectors behind each attention weight (q * k, then softmax).

    Works with ptmlab models (through the hook points blocks.{i}.attn.q / .k / .pattern) and Hugging Face BERT- or
    GPT-2-like models (queries and keys read with forward hooks). model_type is bertviz's: 'bert' adds [CLS]/[SEP],
    'gpt2' adds nothing and draws left-to-right attention. text_b makes a sentence pair (bert/roberta)."""
    from bertviz.neuron_view import show as bertviz_neuron_show

    if model_type not in NEURON_MODEL_TYPES:
        raise InputError(f"model_type={model_type!r}.", fix=f"Use one of {', '.join(NEURON_MODEL_TYPES)}.")
    if not isinstance(text, str) or not text.strip():
        raise InputError("neuron_view needs a non-empty text.", fix="Pass a sentence, e.g. 'the cat sat on the mat'.")
    if display_mode not in ("light", "dark"):
        raise InputError(f"display_mode={display_mode!r}.", fix="Use 'light' or 'dark'.")
    adapter = _NeuronModelAdapter(model)
    tokenizer_adapter = _TokenizerAdapter(tokenizer, model_type)
    n_layers, n_heads = _layer_head_counts(model)
    _check_index(layer, n_layers, "layer")
    _check_index(head, n_heads, "head")
    tokens_a = tokenizer_adapter.tokenize(text)
    if not tokens_a:
        raise InputError(f"The tokenizer produced no tokens for {text!r}.", fix="Pass text the tokenizer knows.")
    tokens = _neuron_tokens(
        tokens_a, tokenizer_adapter.tokenize(text_b) if text_b else [], tokenizer_adapter, model_type
    )

    was_training = bool(getattr(model, "training", False))
    try:
        fragment = bertviz_neuron_show(
            adapter,
            model_type,
            tokenizer_adapter,
            text,
            text_b,
            display_mode=display_mode,
            layer=layer,
            head=head,
            html_action="return",
        ).data
    finally:
        if was_training:  # bertviz switches the model to eval mode; hand it back as we found it
            model.train()
    estimated = int(len(tokens) * 26 + 100 + 60)
    document = standalone_document(fragment, title="ptmlab · attention neuron view")
    return AttentionView(document, kind="neuron", tokens=tokens, estimated_height=estimated, height=height)


def _neuron_tokens(tokens_a: list[str], tokens_b: list[str], tokenizer: Any, model_type: str) -> list[str]:
    """The token sequence bertviz's neuron view builds (special tokens as each model family places them)."""
    cls, sep = tokenizer.cls_token, tokenizer.sep_token
    if model_type == "gpt2":
        return tokens_a
    if model_type == "xlnet":
        return tokens_a + [sep, cls]
    tokens = [cls, *tokens_a, sep]
    if tokens_b:
        tokens += ([sep] if model_type == "roberta" else []) + tokens_b + [sep]
    return tokens


def _layer_head_counts(model: Any) -> tuple[int, int]:
    config = model.config
    for layers_name, heads_name in (
        ("n_layers", "n_heads"),
        ("num_hidden_layers", "num_attention_heads"),
        ("n_layer", "n_head"),
    ):
        if hasattr(config, layers_name) and hasattr(config, heads_name):
            return int(getattr(config, layers_name)), int(getattr(config, heads_name))
    raise InputError(
        f"Cannot tell the number of layers and heads from {type(config).__name__}.",
        fix="The model's config needs n_layers and n_heads (ptmlab) or num_hidden_layers and num_attention_heads (HF).",
    )


# ----------------------------------------------------------------------------- plotly heatmaps
def _heatmap_trace(weights: torch.Tensor, query_tokens: list[str], key_tokens: list[str], coloraxis: str | None = None):
    import numpy as np
    import plotly.graph_objects as go

    # Positions, not token strings, go on the axes: plotly would merge repeated tokens ("the" twice) into one category.
    labels = np.empty((len(query_tokens), len(key_tokens), 2), dtype=object)
    for q, query in enumerate(query_tokens):
        for k, key in enumerate(key_tokens):
            labels[q, k, 0] = f"{q}: {query}"
            labels[q, k, 1] = f"{k}: {key}"
    return go.Heatmap(
        z=weights.numpy(),
        x=list(range(len(key_tokens))),
        y=list(range(len(query_tokens))),
        customdata=labels,
        hovertemplate="query %{customdata[0]}<br>key %{customdata[1]}<br>weight %{z:.3f}<extra></extra>",
        coloraxis=coloraxis,
        **({} if coloraxis else {"colorscale": "Blues", "zmin": 0.0, "zmax": 1.0}),
    )


def _token_axis(tokens: list[str], title: str, reverse: bool = False) -> dict[str, Any]:
    axis: dict[str, Any] = {
        "title": {"text": title},
        "tickmode": "array",
        "tickvals": list(range(len(tokens))),
        "ticktext": tokens,
        "showgrid": False,
    }
    if reverse:
        axis["autorange"] = "reversed"  # first query on top, like reading the sentence
    return axis


def _heatmap_inputs(attentions: Any, tokens: Any, key_tokens: Any) -> tuple[list[torch.Tensor], list[str], list[str]]:
    layers = _attention_layers(attentions, "attentions")
    _, _, n_queries, n_keys = layers[0].shape
    if key_tokens is None and n_queries != n_keys:
        raise InputError(
            f"attentions has {n_queries} queries and {n_keys} keys.",
            fix="For cross-attention pass key_tokens= (the encoder tokens); tokens are then the decoder tokens.",
        )
    query_tokens = list(_check_tokens(tokens, n_queries, "tokens", "attentions (queries)"))
    keys = query_tokens if key_tokens is None else list(_check_tokens(key_tokens, n_keys, "key_tokens", "the keys"))
    return layers, query_tokens, keys


def attention_heatmap(
    attentions: Any,
    tokens: Sequence[str],
    *,
    layer: int = 0,
    head: int = 0,
    key_tokens: Sequence[str] | None = None,
) -> go.Figure:
    """The weights of one head as a heatmap: queries down the side, keys along the top, hover for the weight.

    Same inputs as head_view; key_tokens (the encoder's) turns it into a cross-attention map."""
    import plotly.graph_objects as go

    layers, query_tokens, keys = _heatmap_inputs(attentions, tokens, key_tokens)
    _check_index(layer, len(layers), "layer")
    _check_index(head, layers[0].shape[1], "head")
    figure = go.Figure(_heatmap_trace(layers[layer][0, head], query_tokens, keys))
    size = max(320, min(900, 28 * max(len(query_tokens), len(keys)) + 160))
    figure.update_layout(
        title={"text": f"Attention weights · layer {layer}, head {head}"},
        xaxis=_token_axis(keys, "key (attended to)"),
        yaxis=_token_axis(query_tokens, "query (attending)", reverse=True),
        width=size + 80,
        height=size,
        margin={"l": 90, "r": 20, "t": 60, "b": 90},
    )
    figure.update_xaxes(tickangle=-45, side="bottom")
    return figure


def attention_heatmap_grid(
    attentions: Any,
    tokens: Sequence[str],
    *,
    layer: int = 0,
    heads: Sequence[int] | None = None,
    columns: int = 4,
    key_tokens: Sequence[str] | None = None,
) -> go.Figure:
    """All heads (or the chosen ones) of one layer side by side, on one shared 0..1 colour scale."""
    from plotly.subplots import make_subplots

    layers, query_tokens, keys = _heatmap_inputs(attentions, tokens, key_tokens)
    _check_index(layer, len(layers), "layer")
    n_heads = layers[0].shape[1]
    chosen = _check_indices(heads, n_heads, "heads") or list(range(n_heads))
    if not isinstance(columns, int) or columns < 1:
        raise InputError(f"columns={columns!r}.", fix="Use a positive integer.")
    columns = min(columns, len(chosen))
    rows = -(-len(chosen) // columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[f"head {h}" for h in chosen],
        horizontal_spacing=0.04,
        vertical_spacing=0.08 if rows > 1 else 0.0,
    )
    show_labels = max(len(query_tokens), len(keys)) <= 16  # long sentences: hover instead of unreadable ticks
    for index, head in enumerate(chosen):
        row, col = index // columns + 1, index % columns + 1
        figure.add_trace(_heatmap_trace(layers[layer][0, head], query_tokens, keys, coloraxis="coloraxis"), row, col)
        figure.update_xaxes(
            tickmode="array",
            tickvals=list(range(len(keys))),
            ticktext=keys if show_labels else [""] * len(keys),
            tickangle=-60,
            row=row,
            col=col,
        )
        figure.update_yaxes(
            tickmode="array",
            tickvals=list(range(len(query_tokens))),
            ticktext=query_tokens if (show_labels and col == 1) else [""] * len(query_tokens),
            autorange="reversed",
            row=row,
            col=col,
        )
    figure.update_layout(
        title={"text": f"Attention weights · layer {layer}, {len(chosen)} heads"},
        coloraxis={"colorscale": "Blues", "cmin": 0.0, "cmax": 1.0, "colorbar": {"title": {"text": "weight"}}},
        height=max(300, 230 * rows + 80),
        width=max(420, 220 * columns + 120),
        margin={"l": 70, "r": 20, "t": 70, "b": 60},
    )
    return figure
