"""The explorer opens one run of every kind in a fresh kernel, as `ptmlab explore`'s Voila kernel does.

One tiny checkpoint of every class in ptmlab.models.heads.MODEL_CLASSES is saved as ptmlab's run cache saves a recipe's
run (load_or_train, the tokenizer in the sidecar); a fresh process imports only the explorer, lists the runs and opens
each one. A class whose module the loader does not import fails only there: before the fix, SentencePairModel (NSP,
SOP), ContrastiveEncoder (InfoNCE) and TranslationLanguageModel (TLM) runs were listed and then failed to open."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from test_model_registry import TINY_CONFIGS

from ptmlab.models.heads import MODEL_CLASSES, _import_model_modules, build_model

_import_model_modules()

SENTENCES = ["the city is the capital of the country .", "a ship sails on the sea .", "the river flows into the sea ."]
SENTENCE = SENTENCES[0]
STATIC = {"Word2Vec", "FastText", "GloVe"}  # word vectors, not sequence models: left out of the menu
FRESH_KERNEL_BUG = {"SentencePairModel", "ContrastiveEncoder", "TranslationLanguageModel"}
FAMILIES = {  # what the explorer shows of each kind; every other listed class is an 'encoder' (attention, embeddings)
    "MaskedLanguageModel": "mlm",
    "TranslationLanguageModel": "mlm",
    "CausalLanguageModel": "causal",
    "ElectraModel": "rtd",
    "EncoderDecoder": "encoder-decoder",
}
NO_ATTENTION = {"BiLanguageModel"}  # recurrent: the explorer says the attention views are empty

# The fresh kernel: imports the explorer only (no model module), lists the cached runs, opens and analyses each one.
FRESH_KERNEL = r"""
import json, sys
from pathlib import Path

from ptmlab.app.explorer import analyse, attention_view, cached_runs, choice_from_text, load_model
from ptmlab.errors import PtmlabError

before = sorted(m for m in sys.modules if m.startswith("ptmlab.models."))
report = {"models_imported_before_loading": before, "runs": {}, "refused": {}}
for choice in cached_runs():
    entry = report["runs"].setdefault(choice.label.split(":")[0], {"label": choice.label})
    try:
        loaded = load_model(choice)
        entry.update(cls=type(loaded.model).__name__, family=loaded.family, describe=loaded.describe())
        analysis = analyse(loaded, sys.argv[1])
        entry.update(
            tokens=analysis.tokens,
            attention_layers=len(analysis.attentions),
            prediction_rows=len(analysis.prediction_rows),
            notes=analysis.notes,
            neighbours=len(analysis.neighbours),
            projector=analysis.projector is not None,
        )
        try:
            entry["head_view"] = attention_view(analysis, "head").kind
        except PtmlabError as err:
            entry["head_view_refused"] = err.message
    except Exception as err:
        entry["error"] = f"{type(err).__name__}: {err}"
for path in sys.argv[2:]:  # runs the menu leaves out, opened by typing their path
    try:
        load_model(choice_from_text(path))
        report["refused"][Path(path).name] = None
    except PtmlabError as err:
        report["refused"][Path(path).name] = f"{type(err).__name__}: {err.message}"
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def fresh_kernel(tmp_path_factory):
    """Save one tiny run per registered class into a private PTMLAB_HOME, then open them all in a fresh process."""
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.train.cache import load_or_train

    home = tmp_path_factory.mktemp("ptmlab_home")
    tokenizer = train_tokenizer(SENTENCES, kind="word", vocab_size=40)
    static_paths = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PTMLAB_HOME", str(home))
        patch.delenv("PTMLAB_SHARED_CACHE", raising=False)
        for name in sorted(MODEL_CLASSES):
            assert name in TINY_CONFIGS, f"add a tiny config for {name} to tests/test_model_registry.py"
            config = TINY_CONFIGS[name] | {"vocab_size": tokenizer.vocab_size}
            torch.manual_seed(0)
            run = load_or_train(
                f"kind{name.lower()}",  # the menu label starts with the key: one distinct key per class
                {"class": name, "steps": 0},
                lambda name=name, config=config: (build_model(name, config).eval(), {"tokenizer": tokenizer.to_dict()}),
            )
            if name in STATIC:
                static_paths.append(str(run.path))
        env = {"PTMLAB_HOME": str(home), "PTMLAB_THREADS": "1"}
        done = subprocess.run(
            [sys.executable, "-c", FRESH_KERNEL, SENTENCE, *static_paths],
            capture_output=True,
            text=True,
            timeout=600,
            env={k: v for k, v in os.environ.items() if k != "PTMLAB_SHARED_CACHE"} | env,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"report": report, "runs": {entry.get("cls", key): entry for key, entry in report["runs"].items()}}


def test_the_fresh_kernel_had_imported_no_model_module(fresh_kernel):
    """The condition the bug needs: nothing registered the model classes before the explorer opened a run."""
    imported = fresh_kernel["report"]["models_imported_before_loading"]
    assert not set(imported) & {"ptmlab.models.sentence_pair", "ptmlab.models.contrastive", "ptmlab.models.translation"}


def test_the_menu_lists_every_sequence_model_and_leaves_out_word_vectors(fresh_kernel):
    listed = set(fresh_kernel["runs"])
    assert listed == set(MODEL_CLASSES) - STATIC, fresh_kernel["report"]["runs"]
    assert FRESH_KERNEL_BUG <= listed


@pytest.mark.parametrize("class_name", sorted(set(TINY_CONFIGS) - STATIC))
def test_every_listed_kind_opens_in_a_fresh_kernel(fresh_kernel, class_name):
    run = fresh_kernel["runs"].get(class_name)
    assert run is not None, f"{class_name} is not in the menu"
    assert "error" not in run, run["error"]
    assert run["family"] == FAMILIES.get(class_name, "encoder") and class_name in run["describe"]
    assert run["tokens"][0] == "[CLS]" and "city" in run["tokens"]
    n_layers = TINY_CONFIGS[class_name].get("n_layers", 1)
    if class_name in NO_ATTENTION:
        assert run["attention_layers"] == 0 and "no attention" in run["head_view_refused"]
        assert any(n.startswith("Attention:") and "not a Transformer" in n for n in run["notes"])
    else:
        assert run["attention_layers"] == n_layers and run["head_view"] == "head"
    if run["family"] in ("mlm", "causal", "rtd"):
        assert run["prediction_rows"] > 0
    else:  # no predictions for this kind: the explorer says so instead of failing
        assert run["prediction_rows"] == 0 and any(n.startswith("Predictions:") for n in run["notes"])
    assert run["projector"] and run["neighbours"] > 0  # the embedding projector works for every kind


@pytest.mark.parametrize("class_name", sorted(STATIC))
def test_word_vectors_typed_by_path_are_refused_with_a_reason(fresh_kernel, class_name):
    (reason,) = [
        r for name, r in fresh_kernel["report"]["refused"].items() if name.startswith(f"kind{class_name.lower()}-")
    ]
    assert reason is not None and reason.startswith("CheckpointError") and "not a sequence model" in reason
