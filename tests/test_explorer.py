"""The explorer's logic without a browser: the model menu, one sentence analysed end to end (a freshly trained smoke
MLM, a causal LM, Hugging Face MiniLM and tiny random HF decoder / encoder-decoder models), and every bad input turned
into a message in the app rather than a traceback."""

from __future__ import annotations

import importlib.util
import json
import re
import socket
from pathlib import Path

import pytest
import torch

from ptmlab.app import explorer
from ptmlab.errors import CheckpointError, DataError, InputError, PtmlabError

SENTENCE = "the city is the capital of the country ."
HAS_HF = explorer.hf_available()
needs_hf = pytest.mark.skipif(not HAS_HF, reason="the hf extra (transformers + offline MiniLM) is not installed")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A private PTMLAB_HOME holding one freshly trained (tiny) smoke MLM run."""
    root = tmp_path_factory.mktemp("ptmlab_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PTMLAB_HOME", str(root))
        patch.delenv("PTMLAB_SHARED_CACHE", raising=False)
        patch.setenv("PTMLAB_THREADS", "1")
        choice = explorer.train_default_model("smoke", max_sentences=400, vocab_size=400, steps=6, seed=1)
        yield root, choice


@pytest.fixture
def mlm(home, monkeypatch):
    root, choice = home
    monkeypatch.setenv("PTMLAB_HOME", str(root))
    monkeypatch.delenv("PTMLAB_SHARED_CACHE", raising=False)
    return explorer.load_model(choice)


def _no_remote_script(document: str) -> bool:
    return re.search(r"<(script|link)[^>]+(src|href)=[\"']?(https?:)?//", document) is None


# ----------------------------------------------------------------------------- the model menu
def test_menu_lists_the_trained_run_and_minilm(home, monkeypatch):
    root, choice = home
    monkeypatch.setenv("PTMLAB_HOME", str(root))
    menu = explorer.model_choices()
    runs = [c for c in menu if c.backend == "ptmlab"]
    assert [c.source for c in runs] == [choice.source]
    assert "MaskedLanguageModel" in runs[0].label and "6 steps" in runs[0].label
    assert any(c.backend == "hf" for c in menu) == HAS_HF
    assert len({c.label for c in menu}) == len(menu)  # labels are the dropdown's values: they must be unique


def test_shared_cache_runs_are_listed_first_and_labelled(home, monkeypatch, tmp_path):
    root, choice = home
    shared = tmp_path / "shared"
    (shared / "runs").mkdir(parents=True)
    run = Path(choice.source)
    for suffix in (".safetensors", ".json"):  # the same run, copied under another name into the shared cache
        (shared / "runs" / f"mlm-{'a' * 16}{suffix}").write_bytes(run.with_suffix(suffix).read_bytes())
    monkeypatch.setenv("PTMLAB_HOME", str(root))
    monkeypatch.setenv("PTMLAB_SHARED_CACHE", str(shared))
    runs = explorer.cached_runs()
    assert len(runs) == 2 and "shared cache" in runs[0].label and "your cache" in runs[1].label


def test_broken_runs_are_left_out_of_the_menu(tmp_path):
    (tmp_path / "junk-0123456789abcdef.safetensors").write_bytes(b"not weights")
    (tmp_path / "junk-0123456789abcdef.json").write_text("{ not json")
    assert explorer.cached_runs([tmp_path]) == []


# ----------------------------------------------------------------------------- one sentence, a trained MLM
def test_analysis_of_a_sentence_with_the_trained_mlm(mlm):
    analysis = explorer.analyse(mlm, SENTENCE)
    config = mlm.model.config
    n = len(analysis.tokens)
    assert analysis.tokens[0] == "[CLS]" and analysis.tokens[-1] == "[SEP]"
    assert len(analysis.attentions) == config.n_layers
    for layer in analysis.attentions:
        assert layer.shape == (1, config.n_heads, n, n)
        assert torch.allclose(layer.sum(-1), torch.ones(1, config.n_heads, n), atol=1e-4)  # rows are distributions
    # Predictions: each of the n - 2 ordinary tokens hidden in turn; probabilities sorted, specials never proposed.
    rows = analysis.prediction_rows
    assert [r["position"] for r in rows] == list(range(1, n - 1))
    for row in rows:
        probabilities = [p for _, p in row["guesses"]]
        assert probabilities == sorted(probabilities, reverse=True) and 0 <= row["p_token"] <= 1
        assert not {t for t, _ in row["guesses"]} & {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    table = explorer.predictions_html(analysis)
    assert table.count("<tr>") == n - 2 + 1
    # Corruption: MLM masks some tokens, never [CLS]/[SEP].
    assert "ptmlab-corruption" in analysis.corruption and "special token" in analysis.corruption
    # Projector: the sentence's distinct tokens, their neighbours and a vocabulary sample.
    content = list(dict.fromkeys(t for t in analysis.tokens[1:-1] if t != "[UNK]"))
    sentence_trace = next(t for t in analysis.projector.data if t.name == "sentence")
    assert list(sentence_trace.text) == content
    assert {"neighbour", "vocabulary sample"} <= {t.name for t in analysis.projector.data}
    assert set(analysis.neighbours) == set(content)
    for token, near in analysis.neighbours.items():
        assert len(near) == explorer.NEIGHBOURS_K and token not in [w for w, _ in near]
        assert [c for _, c in near] == sorted((c for _, c in near), reverse=True)
    assert explorer.projector_figure(analysis, dims=3).data[0].type == "scatter3d"


def test_every_attention_view_renders_offline(mlm):
    analysis = explorer.analyse(mlm, SENTENCE)
    for kind in explorer.VIEW_KINDS:
        view = explorer.attention_view(analysis, kind)
        assert view.kind == kind and _no_remote_script(view.html)
        assert view.tokens == analysis.tokens  # [CLS] ... [SEP], the same tokens the other sections show
        assert 'srcdoc="' in view.iframe_html()


def test_fill_mask_when_the_sentence_has_masks(mlm):
    analysis = explorer.analyse(mlm, "the [MASK] is the capital of the [MASK] .")
    assert [r["token"] for r in analysis.prediction_rows] == ["[MASK]", "[MASK]"]
    assert all(
        r["p_token"] is None and len(r["guesses"]) == explorer.PREDICTION_TOP_K + 2 for r in analysis.prediction_rows
    )
    assert "[MASK]" in explorer.predictions_html(analysis)


def test_each_objective_draws_its_corruption_and_seeds_matter(mlm):
    analysis = explorer.analyse(mlm, SENTENCE)
    for name in explorer.OBJECTIVES:
        explorer.draw_corruption(analysis, name, seed=3)
        assert name in analysis.corruption and "model input" in analysis.corruption
    mlm_name = explorer.DEFAULT_OBJECTIVE
    draws = set()
    for seed in range(6):
        explorer.draw_corruption(analysis, mlm_name, seed)
        draws.add(analysis.corruption)
    assert len(draws) > 1, "different seeds should mask different tokens"
    with pytest.raises(InputError, match="Unknown objective"):
        explorer.draw_corruption(analysis, "nonsense", 0)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("sentence", "expected"),
    [("", "empty"), ("   ", "empty"), ("☃ ☃ ☃", "unknown"), (" ".join(["the city"] * 40), "at most")],
)
def test_bad_sentences_raise_input_errors(mlm, sentence, expected):
    with pytest.raises(InputError, match=expected):
        explorer.analyse(mlm, sentence)


def test_bad_model_sources(tmp_path):
    with pytest.raises(DataError, match="Nothing exists"):
        explorer.choice_from_text("/no/such/model")
    with pytest.raises(DataError, match="no checkpoint file"):
        explorer.choice_from_text(str(tmp_path / "missing.safetensors"))
    with pytest.raises(InputError, match="No model"):
        explorer.choice_from_text("  ")
    other = tmp_path / "weights.bin"
    other.write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="not a ptmlab checkpoint"):
        explorer.choice_from_text(str(other))


def test_checkpoint_of_the_wrong_format(tmp_path):
    path = tmp_path / "foreign.safetensors"
    path.write_bytes(b"\x00" * 64)
    path.with_suffix(".json").write_text(json.dumps({"format": "somebody-else-1", "model_class": "X"}))
    with pytest.raises(CheckpointError, match="not a ptmlab checkpoint"):
        explorer.load_model(explorer.choice_from_text(str(path)))


def test_checkpoint_without_a_tokenizer(tmp_path):
    from ptmlab.models.heads import MaskedLanguageModel
    from ptmlab.models.transformer import TransformerConfig
    from ptmlab.train.checkpoint import save_checkpoint

    model = MaskedLanguageModel(TransformerConfig(vocab_size=20, max_len=8, d_model=16, n_layers=1, n_heads=2))
    path = save_checkpoint(tmp_path / "bare.safetensors", model, {"history": []})
    with pytest.raises(CheckpointError, match="tokenizer"):
        explorer.load_model(explorer.choice_from_text(str(path)))


def test_message_html_never_shows_a_traceback():
    friendly = explorer.message_html(InputError("The text is empty.", fix="Type a sentence."))
    assert "The text is empty." in friendly and "Type a sentence." in friendly
    try:
        raise RuntimeError("deep inside <torch>\nline two")
    except RuntimeError as err:
        unexpected = explorer.message_html(err)
    assert "Traceback" not in unexpected and "line two" not in unexpected and "&lt;torch&gt;" in unexpected


def test_the_app_shows_messages_for_bad_input(home, monkeypatch):
    """The widget app end to end, without a front end: bad sentence, bad model path, then recovery."""
    root, _ = home
    monkeypatch.setenv("PTMLAB_HOME", str(root))
    app = explorer.ExplorerApp()
    assert app.message.value == "" and "iframe" in app.view_box.value and "<table" in app.predictions.value
    assert app.model_menu.index == 0 and app.model_menu.label == app.choices[0].label  # the menu shows the open model
    app.refresh_button.click()
    assert app.model_menu.index == 0 and app.message.value == ""
    (output,) = app.projector.outputs
    assert "application/vnd.plotly.v1+json" in output["data"]
    app.sentence.value = ""
    assert "empty" in app.message.value and "Traceback" not in app.message.value
    assert app.results.layout.display == "none"  # the previous sentence's figures are not left under the error
    app.sentence.value = "☃ ☃"
    assert "unknown" in app.message.value
    app.other_model.value = "/no/such/folder"
    assert "Nothing exists" in app.message.value
    app.sentence.value = "the country is large ."
    assert app.message.value == "" and app.results.layout.display == ""
    assert app.analysis.sentence == "the country is large ." and app.analysis.tokens[1] == "the"
    assert app.predictions.value.count("<tr>") == len(app.analysis.tokens) - 2 + 1
    app.view_kind.value = "neuron"
    assert 'data-ptmlab-view="neuron"' in app.view_box.value


def test_the_app_offers_training_when_no_run_is_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path))
    monkeypatch.delenv("PTMLAB_SHARED_CACHE", raising=False)
    monkeypatch.setattr(explorer.menu, "hf_available", lambda: False)  # nothing at all to open
    app = explorer.ExplorerApp()
    assert app.train_box.layout.display != "none" and app.results.layout.display == "none"
    assert "No model yet" in app.model_info.value
    app.analyse_button.click()
    assert "No model is open" in app.message.value
    with pytest.raises(InputError, match="cannot be trained"):
        explorer.train_default_model("gpu")


# ----------------------------------------------------------------------------- a causal LM (ptmlab)
def test_causal_lm_run_predicts_next_tokens(mlm, tmp_path):
    from ptmlab.models.heads import CausalLanguageModel
    from ptmlab.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    config = mlm.model.config
    model = CausalLanguageModel(config)
    save_checkpoint(
        tmp_path / "runs" / "lm-0123456789abcdef.safetensors",
        model,
        {"tokenizer": mlm.tokenizer.to_dict(), "key": "lm"},
    )
    (choice,) = explorer.cached_runs([tmp_path / "runs"])
    loaded = explorer.load_model(choice)
    assert loaded.family == "causal"
    analysis = explorer.analyse(loaded, SENTENCE)
    rows = analysis.prediction_rows
    assert rows[-1]["next"] == "(after the sentence)" and rows[-1]["p_token"] is None
    assert [r["next"] for r in rows[:-1]] == analysis.tokens[1 : len(rows)]
    upper = analysis.attentions[0][0, :, 0, 1:]
    assert float(upper.abs().max()) < 1e-6  # causal: the first token attends to nothing after it
    assert "next token" in explorer.predictions_html(analysis)
    assert explorer.attention_view(analysis, "neuron").kind == "neuron"


def _load_as_cached_run(model, tokenizer, tmp_path, key: str):
    """Save `model` as a cached run (with its tokenizer, as the recipes do) and open it from the explorer's menu."""
    from ptmlab.train.checkpoint import save_checkpoint

    save_checkpoint(
        tmp_path / "runs" / f"{key}-0123456789abcdef.safetensors", model, {"tokenizer": tokenizer.to_dict()}
    )
    (choice,) = explorer.cached_runs([tmp_path / "runs"])
    return explorer.load_model(choice)


def test_electra_run_shows_replaced_token_probabilities(mlm, tmp_path):
    from ptmlab.models.electra import ElectraModel

    torch.manual_seed(0)
    model = ElectraModel(mlm.model.config).eval()
    loaded = _load_as_cached_run(model, mlm.tokenizer, tmp_path, "rtd")
    assert loaded.family == "rtd" and "ELECTRA" in loaded.describe()
    analysis = explorer.analyse(loaded, SENTENCE)
    rows = analysis.prediction_rows
    assert [r["position"] for r in rows] == list(range(1, len(analysis.tokens) - 1))
    expected = model.replaced_probabilities(torch.tensor([analysis.ids]))[0, 1:-1].tolist()
    assert [r["p_replaced"] for r in rows] == pytest.approx(expected)
    assert "p(replaced)" in explorer.predictions_html(analysis)
    assert len(analysis.attentions) == mlm.model.config.n_layers


# ----------------------------------------------------------------------------- Hugging Face models
@needs_hf
def test_minilm_attention_and_projector():
    (choice,) = [c for c in explorer.model_choices() if c.backend == "hf"]
    loaded = explorer.load_model(choice)
    assert loaded.family == "encoder" and loaded.max_len == 512
    analysis = explorer.analyse(loaded, SENTENCE)
    assert len(analysis.attentions) == 6 and analysis.attentions[0].shape[1] == 12
    assert analysis.prediction_rows == [] and any("no language-model head" in n for n in analysis.notes)
    assert "cities" in [w for w, _ in analysis.neighbours["city"]]
    assert "ptmlab-corruption" in analysis.corruption
    with pytest.raises(InputError, match="unknown"):
        explorer.analyse(loaded, "☃ ☃ ☃")
    with pytest.raises(InputError, match="at most 512"):
        explorer.analyse(loaded, "city " * 600)


def _tiny_hf_model(tmp_path, kind: str):
    """A random tiny GPT-2 or BART saved with MiniLM's tokenizer: HF decoder / encoder-decoder support, offline."""
    import transformers

    from ptmlab.models.hf import minilm_dir

    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
    size = dict(vocab_size=len(tokenizer))
    if kind == "decoder":
        config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=16, n_positions=64, **size)
        model = transformers.GPT2LMHeadModel(config)
    else:
        config = transformers.BartConfig(
            encoder_layers=1,
            decoder_layers=1,
            d_model=16,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            max_position_embeddings=64,
            pad_token_id=0,
            decoder_start_token_id=101,
            bos_token_id=101,
            eos_token_id=102,
            **size,
        )
        model = transformers.BartModel(config)
    folder = tmp_path / kind
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@needs_hf
def test_hugging_face_decoder_folder(tmp_path):
    loaded = explorer.load_model(explorer.choice_from_text(str(_tiny_hf_model(tmp_path, "decoder"))))
    assert loaded.family == "causal" and loaded.max_len == 64
    analysis = explorer.analyse(loaded, SENTENCE)
    assert len(analysis.attentions) == 2 and analysis.prediction_rows[-1]["next"] == "(after the sentence)"
    assert explorer.attention_view(analysis, "neuron").kind == "neuron"
    loaded.tokenizer.mask_token = None  # a GPT-2-like tokenizer: no mask token, so a note instead of a corruption
    assert "no mask token" in explorer.analyse(loaded, SENTENCE).corruption
    with pytest.raises(InputError, match="at most 64"):
        explorer.analyse(loaded, "city " * 70)


@needs_hf
def test_hugging_face_encoder_decoder_folder(tmp_path):
    loaded = explorer.load_model(explorer.choice_from_text(str(_tiny_hf_model(tmp_path, "encoder-decoder"))))
    assert loaded.family == "encoder-decoder"
    analysis = explorer.analyse(loaded, SENTENCE)
    _check_encoder_decoder_views(analysis, n_layers=1)
    with pytest.raises(InputError, match="encoder-decoder"):
        explorer.attention_view(analysis, "neuron")


def _check_encoder_decoder_views(analysis, n_layers):
    """Encoder, decoder (causal) and cross-attention, all three offered by the head and model views."""
    n = len(analysis.tokens)
    assert len(analysis.attentions) == len(analysis.decoder_attentions) == len(analysis.cross_attentions) == n_layers
    assert analysis.decoder_tokens[1:] == analysis.tokens[:-1]  # the decoder reads the sentence shifted right
    assert analysis.cross_attentions[0].shape[-2:] == (n, n)
    assert float(analysis.decoder_attentions[0][0, :, 0, 1:].abs().max()) < 1e-6  # the decoder is causal
    assert any("cross-attention" in note for note in analysis.notes)
    for kind in ("head", "model"):
        view = explorer.attention_view(analysis, kind)
        assert view.kind == kind and "Cross" in view.html and "Decoder" in view.html
        assert _no_remote_script(view.iframe_html())


def test_ptmlab_encoder_decoder_run_shows_all_three_attentions(mlm, tmp_path):
    from ptmlab.models.seq2seq import EncoderDecoder

    torch.manual_seed(0)
    loaded = _load_as_cached_run(EncoderDecoder(mlm.model.config).eval(), mlm.tokenizer, tmp_path, "arena-dae")
    assert loaded.family == "encoder-decoder" and "encoder-decoder" in loaded.describe()
    analysis = explorer.analyse(loaded, SENTENCE)
    _check_encoder_decoder_views(analysis, n_layers=mlm.model.config.n_layers)
    assert analysis.projector is not None


# ----------------------------------------------------------------------------- serving
def test_voila_command_and_page(monkeypatch):
    command = explorer.voila_command(8899, base_url="user/alice/ptmlab-explorer")
    assert "--port=8899" in command and "--Voila.ip=127.0.0.1" in command and "--no-browser" in command
    assert "--Voila.base_url=/user/alice/ptmlab-explorer/" in command and "--template=ptmlab" in command
    assert explorer.normalise_base_url("/") == "/"
    page = json.loads(explorer.notebook_path().read_text())
    (cell,) = page["cells"]
    assert "show()" in "".join(cell["source"]) and cell["outputs"] == [] and cell["execution_count"] is None
    template_root = explorer.voila_environment()["JUPYTER_PATH"].split(":")[0]
    template = (Path(template_root) / "voila" / "templates" / "ptmlab" / "index.html.j2").read_text()
    assert "extends 'lab/index.html.j2'" in template and "fontawesome-free" in template and "http" not in template


def test_cli_explore_refuses_a_busy_port(capsys):
    from ptmlab.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["explore", "--port", str(port), "--no-browser"]) == 1
    assert "already in use" in capsys.readouterr().err


def test_missing_voila_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "voila" else real(name, *a))
    with pytest.raises(PtmlabError, match="Voila"):
        explorer.voila_command(8899)


def test_the_replay_shows_the_runs_training_snapshots(home, monkeypatch):
    root, _ = home
    monkeypatch.setenv("PTMLAB_HOME", str(root))
    app = explorer.ExplorerApp()
    (output,) = app.replay.outputs
    figure = output["data"]["application/vnd.plotly.v1+json"]
    steps = app.loaded.snapshots["steps"]
    assert steps[0] == 0 and steps[-1] == 6 and len(figure["frames"]) == len(steps)
    assert [s["label"] for s in figure["layout"]["sliders"][0]["steps"]] == [str(s) for s in steps]


@needs_hf
def test_models_without_snapshots_say_so_in_the_replay(home, monkeypatch):
    root, _ = home
    monkeypatch.setenv("PTMLAB_HOME", str(root))
    app = explorer.ExplorerApp()
    app.use_model(explorer.choice_from_text("all-MiniLM-L6-v2"))
    (output,) = app.replay.outputs
    assert "no recorded training snapshots" in output["data"]["text/html"]
