"""Inference on one sentence, the fill-mask app, the projector, the corruption view, the taxonomy and exercises."""

import pytest
import torch

from ptmlab.data.tokenizers import train_tokenizer
from ptmlab.errors import InputError
from ptmlab.models.heads import MaskedLanguageModel
from ptmlab.models.transformer import TransformerConfig
from ptmlab.objectives.mlm import MaskedLM

TEXTS = ["the cat sat on the mat .", "the dog sat on the log .", "a city is the capital of a state ."] * 20


@pytest.fixture(scope="module")
def small():
    tokenizer = train_tokenizer(TEXTS, kind="word", vocab_size=100)
    config = TransformerConfig(vocab_size=tokenizer.vocab_size, max_len=12, d_model=32, n_heads=2, dropout=0.0)
    torch.manual_seed(0)
    return MaskedLanguageModel(config).eval(), tokenizer


def test_fill_mask_returns_top_k_per_mask(small):
    from ptmlab.inference import fill_mask

    model, tokenizer = small
    out = fill_mask(model, tokenizer, "the [MASK] sat on the [MASK] .", top_k=3)
    assert len(out) == 2 and all(len(guesses) == 3 for guesses in out)
    assert all(t not in ("[PAD]", "[MASK]", "[CLS]") for guesses in out for t, _ in guesses)
    assert out[0][0][1] >= out[0][1][1] >= out[0][2][1]


@pytest.mark.parametrize("text,match", [("", "empty"), ("   ", "empty"), ("the cat sat .", "no \\[MASK\\]"),
                                        ("zzz qqq [MASK]", None), ("the " * 20 + "[MASK]", "at most 12"),
                                        ("xyzzy plugh", "unknown")])
def test_bad_sentences_get_clear_errors(small, text, match):
    from ptmlab.inference import attention_for_text, fill_mask

    model, tokenizer = small
    if match is None:  # unknown words around a [MASK] are allowed: [MASK] itself is known
        assert fill_mask(model, tokenizer, text)
        return
    call = attention_for_text if match == "unknown" else fill_mask
    with pytest.raises(InputError, match=match):
        call(model, tokenizer, text)


def test_attention_for_text_shapes(small):
    from ptmlab.inference import attention_for_text

    model, tokenizer = small
    attentions, tokens = attention_for_text(model, tokenizer, "the cat sat .")
    assert tokens == ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]
    assert len(attentions) == 2 and attentions[0].shape == (1, 2, 6, 6)


def test_fill_mask_app_updates_and_shows_errors(small):
    from ptmlab.widgets.fill_mask import FillMaskApp

    model, tokenizer = small
    app = FillMaskApp(model, tokenizer, "the [MASK] sat .")
    assert app.figure.data and app.message.value == ""
    assert app.predict("no mask here") is None and "no [MASK]" in app.message.value
    result = app.predict("the [MASK] sat on the [MASK] .")
    assert len(result) == 2 and len(app.figure.data) == 2


def test_projector_pca_tsne_and_neighbours():
    from ptmlab.viz.projector import nearest_neighbours, project, reduce

    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(30, 8, generator=g)
    labels = [f"w{i}" for i in range(30)]
    figure = project(vectors, labels, dims=3, color=["a"] * 15 + ["b"] * 15)
    assert len(figure.data) == 2 and figure.data[0].type == "scatter3d" and "w0" in figure.data[0].text
    assert project(vectors, labels, method="tsne", dims=2).data[0].type == "scatter"
    points = reduce(vectors, "pca", 2)
    assert points[:, 0].var() >= points[:, 1].var()  # the first axis carries the most variance
    vectors[1] = vectors[0] * 2
    assert nearest_neighbours(vectors, labels, "w0", k=1)[0][0] == "w1"
    with pytest.raises(InputError):
        project(vectors, labels[:3])
    with pytest.raises(InputError):
        nearest_neighbours(vectors, labels, "missing")


def test_corruption_view_shows_every_operation(small):
    from ptmlab.viz.corruption import show_corruption

    _, tokenizer = small
    html = show_corruption(MaskedLM(tokenizer.vocab_size, mask_prob=0.9), tokenizer, "the cat sat on the mat .",
                           seed=0).data
    assert "[MASK]" in html and "masked" in html and "original" in html and "model input" in html


def test_taxonomy_covers_every_chapter():
    from ptmlab.viz.taxonomy import CHAPTERS, TAXONOMY, chapter_table_markdown, taxonomy_sunburst

    assert {chapter for *_, chapter, _, _ in [(n, p, c, s, m) for n, p, c, s, m in TAXONOMY]} == set(CHAPTERS)
    names = {n for n, *_ in TAXONOMY}
    assert all(parent in names for _, parent, *_ in TAXONOMY if parent)
    for leaf in ("MLM", "PLM", "DAE", "Contrastive", "Distillation", "Adapters", "Multilingual"):
        assert leaf in names
    assert len(taxonomy_sunburst().data[0].labels) == len(TAXONOMY)
    assert "(planned)" in chapter_table_markdown(existing={"00_roadmap.ipynb"})


def test_exercise_check_passes_a_right_answer_and_explains_a_wrong_one(capsys):
    from ptmlab.exercises.roadmap import MaskFifteenPercent

    exercise = MaskFifteenPercent()
    solution = {}
    exec("import torch\n" + exercise.solution_code, solution)
    assert exercise.check(solution["mask_tokens"]) is True

    def masks_specials_too(ids, **kw):
        chosen = torch.rand(ids.shape) < 0.15
        return torch.where(chosen, torch.full_like(ids, 4), ids), chosen

    def masks_too_much(ids, **kw):
        chosen = (torch.rand(ids.shape) < 0.5) & (ids > 4)
        return torch.where(chosen, torch.full_like(ids, 4), ids), chosen

    assert exercise.check(masks_specials_too) is False
    assert "special token" in capsys.readouterr().out
    assert exercise.check(masks_too_much) is False
    assert "0.15" in capsys.readouterr().out
    assert exercise.check(lambda ids: (_ for _ in ()).throw(NotImplementedError())) is False
    exercise.hint()
    exercise.solution()
    assert "Hint 1/3" in capsys.readouterr().out
