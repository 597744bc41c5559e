"""Every registered model class saves and loads in a fresh process, where nothing but the loader has been imported.

A class defined outside ptmlab/models/ registers itself only when its module happens to be imported, so its checkpoints
load in the process that trained them and fail in a fresh kernel (the explorer, a second notebook)."""

import json
import subprocess
import sys

import pytest

from ptmlab.models.heads import MODEL_CLASSES, _import_model_modules

_import_model_modules()

TRANSFORMER = dict(vocab_size=40, max_len=16, d_model=16, n_layers=1, n_heads=2, dropout=0.0)
# One tiny configuration per registered class: a new model class must add its own here.
TINY_CONFIGS = {
    "MaskedLanguageModel": TRANSFORMER,
    "CausalLanguageModel": TRANSFORMER,
    "Transformer": TRANSFORMER,
    "BiLanguageModel": dict(vocab_size=40, max_len=16, d_model=8, n_layers=1, dropout=0.0),
    "ContrastiveEncoder": TRANSFORMER,
    "ElectraModel": TRANSFORMER | {"generator_fraction": 0.5},
    "SpanQAModel": TRANSFORMER,
    "SentencePairModel": TRANSFORMER | {"n_segments": 2},
    "EncoderDecoder": TRANSFORMER,
    "Word2Vec": dict(kind="skipgram", vocab_size=40, dim=8),
    "FastText": dict(kind="fasttext", vocab_size=40, dim=8, buckets=50),
    "GloVe": dict(kind="glove", vocab_size=40, dim=8),
    "TranslationLanguageModel": TRANSFORMER | {"n_segments": 2, "reset_positions": True},
    "TwoStreamLM": TRANSFORMER,
}


def test_every_model_class_lives_in_ptmlab_models_and_has_a_tiny_config():
    assert set(MODEL_CLASSES) == set(TINY_CONFIGS), "add a tiny config for each new model class"
    outside = {
        name: cls.__module__ for name, cls in MODEL_CLASSES.items() if not cls.__module__.startswith("ptmlab.models.")
    }
    assert not outside, f"model classes must live in ptmlab/models/ so a fresh process finds them: {outside}"


@pytest.mark.parametrize("class_name", sorted(TINY_CONFIGS))
def test_a_checkpoint_of_every_model_class_loads_in_a_fresh_process(class_name, tmp_path):
    from ptmlab.models.heads import build_model
    from ptmlab.train.checkpoint import save_checkpoint

    model = build_model(class_name, TINY_CONFIGS[class_name])
    path = save_checkpoint(tmp_path / "model", model, {"note": "tiny"})
    expected = {k: float(v.float().sum()) for k, v in model.state_dict().items()}
    # The fresh process imports only the loader, as a new kernel opening a cached run does.
    code = (
        "import json, sys\n"
        "from ptmlab.train.checkpoint import load_checkpoint\n"
        "model, sidecar = load_checkpoint(sys.argv[1])\n"
        "print(json.dumps({'class': type(model).__name__,"
        " 'sums': {k: float(v.float().sum()) for k, v in model.state_dict().items()}}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["class"] == class_name
    assert loaded["sums"].keys() == expected.keys()
    for key, value in expected.items():
        assert loaded["sums"][key] == pytest.approx(value, rel=1e-6, abs=1e-6), key
