import pytest

from ptmlab import runtime
from ptmlab.errors import OfflineError, PtmlabError


def test_presets_resolve(monkeypatch):
    monkeypatch.setenv("PTMLAB_PRESET", "smoke")
    assert runtime.preset_name() == "smoke"
    assert runtime.preset_name("gpu") == "gpu"
    monkeypatch.setenv("PTMLAB_PRESET", "auto")
    monkeypatch.setenv("PTMLAB_DEVICE", "cpu")
    assert runtime.preset_name() == "cpu"
    monkeypatch.setenv("PTMLAB_DEVICE", "cuda")
    assert runtime.preset_name() == "gpu"
    with pytest.raises(PtmlabError, match="Unknown preset"):
        runtime.preset_name("huge")


def test_pick_preset_with_overrides():
    from ptmlab.chapters.roadmap import MLM_PRESETS

    assert runtime.pick_preset(MLM_PRESETS, "smoke", steps=3).steps == 3
    assert runtime.pick_preset(MLM_PRESETS, "cpu") is MLM_PRESETS["cpu"]


def test_cache_dirs_and_offline_guard(monkeypatch, tmp_path):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "h"))
    assert runtime.cache_dir("runs") == tmp_path / "h" / "runs" and (tmp_path / "h" / "runs").is_dir()
    monkeypatch.setenv("PTMLAB_SHARED_CACHE", str(tmp_path / "missing"))
    assert runtime.shared_cache() is None
    monkeypatch.setenv("PTMLAB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline"):
        runtime.require_online("a download")


def test_seed_repeats():
    import torch

    runtime.seed_everything(3)
    a = torch.rand(3)
    runtime.seed_everything(3)
    assert torch.equal(a, torch.rand(3))


def test_cli_train_smoke_and_doctor(tmp_path, capsys):
    from ptmlab.cli import main

    assert main(["train", "--preset", "smoke", "--steps", "5", "-o", str(tmp_path / "mlm")]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy on [MASK] positions" in out and "counting the neighbours" in out
    assert (tmp_path / "mlm.safetensors").exists() and (tmp_path / "mlm.json").exists()
    from ptmlab.train.checkpoint import load_checkpoint

    model, sidecar = load_checkpoint(tmp_path / "mlm")
    assert type(model).__name__ == "MaskedLanguageModel" and "tokenizer" in sidecar["meta"]
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "✓ real text" in out and "✓ attention view renders offline" in out


def test_cli_trains_on_a_file_with_one_sentence_per_line(tmp_path, capsys):
    """The most common format of one's own text (no blank lines) trains, and the CLI says what it read."""
    from ptmlab.cli import main

    text = tmp_path / "mine.txt"
    words = "river stone light garden window morning letter music winter bridge".split()
    text.write_text("\n".join(f"the {words[i % 10]} was near the {words[(i * 3) % 10]} today ." for i in range(600)))
    assert main(["train", "--preset", "smoke", "--steps", "3", "--corpus", str(text)]) == 0
    out = capsys.readouterr().out
    assert "Read own: 600 documents, 600 sentences" in out and "one document per line" in out


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    from ptmlab.cli import main

    assert main(["train", "--preset", "smoke", "--corpus", str(tmp_path / "nope.txt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ptmlab: ") and "Traceback" not in err


@pytest.mark.notebook
def test_cli_prepare_runs_notebooks_into_the_cache(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from ptmlab.cli import main

    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path))
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "00_roadmap.ipynb"
    assert main(["prepare", "--preset", "smoke", str(notebook)]) == 0
    out = capsys.readouterr().out
    assert "[1/1] 00_roadmap.ipynb" in out and f"PTMLAB_SHARED_CACHE={tmp_path}" in out
    assert list((tmp_path / "runs").glob("mlm-*.safetensors"))  # the tour's run is cached for learners


def test_cli_prepare_refuses_a_missing_notebook(tmp_path, capsys):
    from ptmlab.cli import main

    assert main(["prepare", str(tmp_path / "nope.ipynb")]) == 1
    err = capsys.readouterr().err
    assert "No notebook at" in err and "Traceback" not in err
