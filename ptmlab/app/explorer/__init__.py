"""The visual explorer: choose a model, type a sentence, see its attention, predictions, corruption and embeddings.

Vig (2019, bertviz) for attention, Smilkov et al. (2016, Embedding Projector) for vectors, survey sections 3-4 (Qiu et
al. 2020). Served by `ptmlab explore` through Voila; every function here runs (and is tested) without a browser.

Four modules, one job each:
    menu      which models there are (cached ptmlab runs, Hugging Face models) and loading one (`load_model`)
    analysis  one sentence through a loaded model, pure: attention, predictions, corruption, embeddings (`analyse`)
    ui        the ipywidgets page (`ExplorerApp`, `show()`: what explorer.ipynb runs)
    serve     the Voila command line behind `ptmlab explore`

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

Importing this package loads the menu, the analysis and the serving code (none of them imports torch or ipywidgets at
import time); the page's widgets are imported with `ExplorerApp` / `show`.
"""

from __future__ import annotations

from ptmlab.app.explorer.analysis import (
    BACKGROUND_WORDS,
    DEFAULT_OBJECTIVE,
    EXAMPLE_SENTENCE,
    NEIGHBOURS_K,
    OBJECTIVES,
    PREDICTION_TOP_K,
    VIEW_KINDS,
    Analysis,
    analyse,
    attention_view,
    draw_corruption,
    encode,
    neighbours_html,
    note_html,
    predictions_html,
    projector_figure,
    tokens_of,
)
from ptmlab.app.explorer.menu import (
    TRAINABLE_PRESETS,
    LoadedModel,
    ModelChoice,
    cached_runs,
    choice_from_text,
    hf_available,
    load_model,
    model_choices,
    train_default_model,
)
from ptmlab.app.explorer.serve import (
    check_port,
    free_port,
    normalise_base_url,
    notebook_path,
    voila_command,
    voila_environment,
)
from ptmlab.app.explorer.ui import ExplorerApp, message_html, show

__all__ = [
    "BACKGROUND_WORDS",
    "DEFAULT_OBJECTIVE",
    "EXAMPLE_SENTENCE",
    "NEIGHBOURS_K",
    "OBJECTIVES",
    "PREDICTION_TOP_K",
    "TRAINABLE_PRESETS",
    "VIEW_KINDS",
    "Analysis",
    "ExplorerApp",
    "LoadedModel",
    "ModelChoice",
    "analyse",
    "attention_view",
    "cached_runs",
    "check_port",
    "choice_from_text",
    "draw_corruption",
    "encode",
    "free_port",
    "hf_available",
    "load_model",
    "message_html",
    "model_choices",
    "neighbours_html",
    "normalise_base_url",
    "note_html",
    "notebook_path",
    "predictions_html",
    "projector_figure",
    "show",
    "tokens_of",
    "train_default_model",
    "voila_command",
    "voila_environment",
]
