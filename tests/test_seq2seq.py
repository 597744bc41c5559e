"""The encoder-decoder model, MASS and T5 span corruption (survey 3.1.2): shapes, attention, generation, statistics,
hand-computed losses and a few training steps."""

import math

import pytest
import torch
import torch.nn.functional as F
from seq2seq_helpers import first_and_last_loss

from ptmlab.errors import InputError
from ptmlab.models.seq2seq import EncoderDecoder, cross_attention_for
from ptmlab.models.transformer import TransformerConfig
from ptmlab.objectives.base import Op
from ptmlab.objectives.seq2seq import (
    MASS,
    T5SpanCorruption,
    add_sentinels,
    random_spans_noise_mask,
    sentinel_ids,
    seq2seq_loss,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def config():
    return TransformerConfig(vocab_size=60, max_len=24, d_model=32, n_layers=2, n_heads=4, dropout=0.0)


def _blocks(batch=300, seq=48, vocab=60, pad_from=None, seps=(16, 32)):
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(5, vocab, (batch, seq), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    for s in seps:
        ids[:, s] = 3
    if pad_from:
        ids[:, pad_from:] = 0
        ids[:, pad_from - 1] = 3
    return ids


# ----------------------------------------------------------------------------- the model
def test_fast_and_explicit_attention_agree_and_shapes(config):
    torch.manual_seed(0)
    model = EncoderDecoder(config).eval()
    x, y = torch.randint(5, 60, (2, 10)), torch.randint(5, 60, (2, 7))
    mask = torch.ones_like(x)
    mask[1, 6:] = 0
    slow = model(x, mask, y, output_attentions=True)
    fast = model(x, mask, y)
    assert torch.allclose(slow.logits, fast.logits, atol=1e-5)
    assert slow.logits.shape == (2, 7, 60)
    assert len(slow.encoder_hidden_states) == len(slow.decoder_hidden_states) == config.n_layers + 1
    assert slow.encoder_attentions[0].shape == (2, 4, 10, 10)
    assert slow.decoder_attentions[0].shape == (2, 4, 7, 7)
    cross = slow.cross_attentions[1]
    assert cross.shape == (2, 4, 7, 10)
    assert torch.allclose(cross.sum(-1), torch.ones(2, 4, 7), atol=1e-5)
    assert cross[1, :, :, 6:].abs().max() == 0  # padded encoder positions get no attention
    assert torch.triu(slow.decoder_attentions[0][0, 0], diagonal=1).abs().max() == 0  # the decoder is causal
    assert fast.encoder_attentions is None and fast.cross_attentions is None


def test_decoder_is_causal_and_reads_the_encoder(config):
    torch.manual_seed(0)
    model = EncoderDecoder(config).eval()
    x, y = torch.randint(5, 60, (1, 10)), torch.randint(5, 60, (1, 7))
    base = model(x, None, y).logits
    y2 = y.clone()
    y2[0, 5] = (y[0, 5] + 1 - 5) % 55 + 5
    changed = model(x, None, y2).logits
    assert torch.allclose(base[0, :5], changed[0, :5], atol=1e-6)  # earlier positions cannot see a later token
    assert not torch.allclose(base[0, 5:], changed[0, 5:])
    x2 = x.clone()
    x2[0, 9] = (x[0, 9] + 1 - 5) % 55 + 5
    assert not torch.allclose(base[0, 0], model(x2, None, y).logits[0, 0])  # ...but every position sees all the input


def test_hook_points_and_tied_embeddings(config):
    model = EncoderDecoder(config).eval()
    names = model.hook_points()
    for expected in (
        "encoder.blocks.0.attn.pattern",
        "decoder.blocks.1.attn.pattern",
        "decoder.blocks.1.cross_attn.pattern",
        "decoder.blocks.0.resid_post",
    ):
        assert expected in names
    x, y = torch.randint(5, 60, (1, 9)), torch.randint(5, 60, (1, 4))
    out, cache = model.run_with_cache(x, None, y, output_attentions=True, names=["decoder.blocks.1.cross_attn.pattern"])
    assert torch.allclose(cache["decoder.blocks.1.cross_attn.pattern"], out.cross_attentions[1])
    # one table: encoder input, decoder input and output logits
    hidden = out.decoder_last_hidden_state
    manual = hidden @ model.encoder.tok_emb.weight.T + model.final_logits_bias
    assert torch.allclose(manual, out.logits, atol=1e-5)
    views = cross_attention_for(model, x, y)
    assert views["cross_attention"][0].shape == (1, 4, 4, 9)


def test_checkpoint_round_trip(config, tmp_path):
    from ptmlab.train.checkpoint import load_checkpoint, save_checkpoint

    torch.manual_seed(1)
    model = EncoderDecoder(config).eval()
    path = save_checkpoint(tmp_path / "ed", model, {"note": "test"})
    loaded, sidecar = load_checkpoint(path)
    assert type(loaded) is EncoderDecoder and sidecar["model_class"] == "EncoderDecoder"
    x, y = torch.randint(5, 60, (2, 8)), torch.randint(5, 60, (2, 5))
    assert torch.allclose(model(x, None, y).logits, loaded.eval()(x, None, y).logits)


def test_generate_is_greedy_and_stops(config):
    torch.manual_seed(2)
    model = EncoderDecoder(config).eval()
    x = torch.randint(5, 60, (3, 8))
    out = model.generate(x, max_new_tokens=6, eos_id=None)
    assert out.shape == (3, 6)
    decoder_in = torch.cat([torch.full((3, 1), 2), out[:, :-1]], dim=1)
    assert torch.equal(model(x, None, decoder_in).logits.argmax(-1), out)
    # make eos (id 3) the certain first choice: every row stops after one token, the rest is padding
    with torch.no_grad():
        model.final_logits_bias[3] = 1e4
    stopped = model.generate(x, max_new_tokens=6)
    assert stopped.shape == (3, 1) and (stopped == 3).all()
    suppressed = model.generate(x, max_new_tokens=2, suppress_ids=(3,), eos_id=None)
    assert not (suppressed == 3).any()


def test_clear_errors(config):
    model = EncoderDecoder(config)
    x = torch.randint(5, 60, (1, 8))
    with pytest.raises(InputError, match="decoder_input_ids"):
        model(x)
    with pytest.raises(InputError, match="max_new_tokens"):
        model.generate(x, max_new_tokens=0)
    with pytest.raises(InputError, match="positions"):
        model.generate(x, max_new_tokens=config.max_len)
    with pytest.raises(InputError, match="built for at most"):
        model.generate(torch.randint(5, 60, (1, config.max_len + 1)), max_new_tokens=4)
    with pytest.raises(InputError, match="vocabulary"):
        model(x, None, torch.tensor([[2, 99]]))
    with pytest.raises(InputError, match="batch"):
        model(x, None, torch.tensor([[2], [2]]))


# ----------------------------------------------------------------------------- sentinels
@pytest.mark.parametrize("kind", ["word", "wordpiece"])
def test_sentinels_extend_the_tokenizer_and_decode_visibly(kind):
    from ptmlab.data.tokenizers import tokenizer_from_dict, train_tokenizer

    texts = ["the cat sat on the mat .", "a dog ran in the park .", "the city is the capital of the country ."] * 20
    base = train_tokenizer(texts, kind=kind, vocab_size=80)
    extended = add_sentinels(base, 4)
    ids = sentinel_ids(extended)
    assert ids == list(range(base.vocab_size, base.vocab_size + 4)) and extended.vocab_size == base.vocab_size + 4
    assert sentinel_ids(base) == [] and add_sentinels(extended, 4) is extended
    text = extended.decode([extended.token_to_id("the"), ids[0], extended.token_to_id("sat"), ids[1]])
    assert "<X0>" in text and "<X1>" in text
    reloaded = tokenizer_from_dict(extended.to_dict())
    assert sentinel_ids(reloaded) == ids and reloaded.id_to_token(ids[3]) == "<X3>"
    with pytest.raises(InputError):
        add_sentinels(base, 0)


# ----------------------------------------------------------------------------- T5 span corruption
def test_t5_noise_mask_statistics():
    g = torch.Generator().manual_seed(0)
    densities, spans = [], []
    for _ in range(300):
        mask = random_spans_noise_mask(100, 0.15, 3.0, g)
        densities.append(sum(mask) / 100)
        runs = [len(r) for r in "".join("x" if m else "." for m in mask).split(".") if r]
        spans += runs
        assert not mask[0]  # T5 starts with a kept run
    assert abs(sum(densities) / len(densities) - 0.15) < 1e-9  # exactly round(n * 0.15) every time
    assert abs(sum(spans) / len(spans) - 3.0) < 0.15


def test_t5_span_corruption_round_trips_and_keeps_specials():
    sentinels = list(range(60, 80))
    objective = T5SpanCorruption(sentinels)
    ids = _blocks(pad_from=40)
    c = objective.corrupt(ids, torch.Generator().manual_seed(0))
    special = torch.isin(ids, torch.tensor([0, 2, 3]))
    assert (c.record[special] == Op.SPECIAL).all()
    content = (~special).sum(1)
    assert torch.equal((c.record == Op.MASKED).sum(1), (content * 0.15).round().long())  # T5: exactly round(15%)
    for b in range(len(ids)):
        inputs = [t for t in c.input_ids[b].tolist() if t != 0]
        target = c.targets[b][c.loss_mask[b]].tolist()
        assert target[-1] == 3 and target[0] == sentinels[0]
        assert c.decoder_input_ids[b, 0] == 2 and c.decoder_input_ids[b, 1 : len(target)].tolist() == target[:-1]
        # fill each sentinel with the tokens that follow it in the target: the original comes back
        pieces, current = {}, None
        for t in target[:-1]:
            if t in sentinels:
                current = t
                pieces[t] = []
            else:
                pieces[current].append(t)
        rebuilt = [x for t in inputs for x in (pieces[t] if t in sentinels else [t])]
        assert rebuilt == ids[b][ids[b] != 0].tolist()
        used = [t for t in inputs if t in sentinels]
        assert used == sentinels[: len(used)]  # <X0>, <X1>, ... in order


def test_t5_needs_sentinels():
    with pytest.raises(InputError, match="sentinel"):
        T5SpanCorruption([])


# ----------------------------------------------------------------------------- MASS
def test_mass_masks_one_contiguous_half():
    objective = MASS()
    ids = _blocks(pad_from=44)
    c = objective.corrupt(ids, torch.Generator().manual_seed(1))
    special = torch.isin(ids, torch.tensor([0, 2, 3]))
    assert torch.equal(c.input_ids[special], ids[special]) and (c.record[special] == Op.SPECIAL).all()
    for b in range(len(ids)):
        content = (~special[b]).nonzero().flatten().tolist()
        masked = (c.record[b] == Op.MASKED).nonzero().flatten().tolist()
        assert abs(len(masked) - round(0.5 * len(content))) == 0
        i = content.index(masked[0])
        assert content[i : i + len(masked)] == masked  # contiguous among the ordinary tokens
        n = int(c.loss_mask[b].sum())
        assert c.targets[b, :n].tolist() == ids[b, masked].tolist()
        assert c.extra["decoder_position_ids"][b, :n].tolist() == masked
        assert c.decoder_input_ids[b, :n].tolist() == [4, *ids[b, masked[:-1]].tolist()]
        assert (c.input_ids[b, masked] == 4).all()
    starts = [(c.record[b] == Op.MASKED).nonzero()[0].item() for b in range(len(ids))]
    assert len(set(starts)) > 5  # the fragment moves around


# ----------------------------------------------------------------------------- loss and training
@pytest.mark.parametrize("make", [lambda: MASS(), lambda: T5SpanCorruption(list(range(50, 60)))])
def test_loss_matches_hand_computation(config, make):
    objective = make()
    torch.manual_seed(0)
    model = EncoderDecoder(config).eval()
    ids = _blocks(batch=3, seq=20, vocab=50, seps=(9,))
    batch = objective.corrupt(ids, torch.Generator().manual_seed(0))
    full = model(
        batch.input_ids,
        batch.attention_mask,
        batch.decoder_input_ids,
        decoder_position_ids=batch.extra.get("decoder_position_ids"),
    ).logits
    log_probs = full.log_softmax(-1)
    picked = [
        -log_probs[b, t, batch.targets[b, t]].item()
        for b in range(3)
        for t in range(batch.targets.shape[1])
        if batch.loss_mask[b, t]
    ]
    expected = sum(picked) / len(picked)
    assert math.isclose(seq2seq_loss(model, batch).loss.item(), expected, rel_tol=1e-5)
    assert math.isclose(
        F.cross_entropy(full[batch.loss_mask], batch.targets[batch.loss_mask]).item(), expected, rel_tol=1e-5
    )


@pytest.mark.parametrize("make", [lambda: MASS(), lambda: T5SpanCorruption(list(range(60, 70)))])
def test_a_few_steps_lower_the_loss(tiny_blocks, make):
    first, last = first_and_last_loss(make(), tiny_blocks, vocab_size=70)
    assert last < first - 0.5


# ----------------------------------------------------------------------------- the downstream reading task
def test_fact_qa_spans_hold_the_answers_and_an_oracle_scores_100():
    from ptmlab.chapters.seq2seq_denoising import PRESETS, build_tokenizer, pack_documents, pretraining_documents
    from ptmlab.tasks.qa import evaluate_qa, fact_qa

    preset = PRESETS["smoke"]
    tokenizer = build_tokenizer(preset.pretrain_worlds)
    data = fact_qa(tokenizer, 1001, 40)
    for i in range(len(data)):
        span = data.input_ids[i, data.starts[i] : data.ends[i] + 1].tolist()
        assert tokenizer.decode(span) == data.answers[i].lower()
        assert data.context_starts[i] <= data.starts[i] <= data.ends[i]
        assert data.questions[i].endswith("what ?")

    class Oracle(torch.nn.Module):  # scores the gold start and end highest: evaluate_qa must give 100
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, ids, mask):
            start = torch.zeros(ids.shape, dtype=torch.float)
            end = torch.zeros(ids.shape, dtype=torch.float)
            for r, row in enumerate(ids.tolist()):
                match = next(i for i in range(len(data)) if data.input_ids[i, : len(row)].tolist() == row)
                start[r, data.starts[match]] = 10.0
                end[r, data.ends[match]] = 10.0
            return start, end

    scores = evaluate_qa(Oracle(), data, batch_size=1)
    assert scores["f1"] == 100.0 and scores["exact_match"] == 100.0
    blocks = pack_documents(tokenizer, pretraining_documents(preset)[:30], 64)
    assert (blocks[:, 0] == tokenizer.cls_id).all()
    for row in blocks.tolist():
        real = [t for t in row if t != 0]
        assert real[-1] == tokenizer.sep_id  # every block ends a sentence


def test_the_comparison_reads_the_direction_from_the_seeds():
    from ptmlab.chapters.seq2seq_denoising import EXPERIMENT, PRESETS, bart_direction, comparison_text
    from ptmlab.experiment import Comparison

    def comparison(scores):
        rows = [
            {"arm": name, "seed": seed, "f1": f1, "exact_match": f1 / 2, "learned": None}
            for name, values in scores.items()
            for seed, f1 in enumerate(values)
        ]
        return Comparison(EXPERIMENT, PRESETS["smoke"], rows)

    bart = {
        "token_masking": [60, 62, 61],
        "token_deletion": [58, 59, 57],
        "text_infilling": [63, 61, 65],
        "sentence_permutation": [50, 60, 52],
        "document_rotation": [40, 45, 42],
    }
    verdict = bart_direction(comparison(bart))
    assert verdict["holds"] and verdict["gap"] == pytest.approx(58 - 54)
    assert verdict["seeds_agreeing"] == 2 and verdict["seeds"] == 3  # seed 1: permutation 60 beats deletion 59
    reversed_ = bart_direction(comparison({**bart, "document_rotation": [70, 70, 70]}))
    assert reversed_["holds"] is False and reversed_["seeds_agreeing"] == 0
    assert bart_direction(comparison({"token_masking": [1.0]}))["holds"] is None
    text = comparison_text(comparison(bart))
    assert "77.2" in text and "90.8" in text and "61.0 ± 1.0" in text  # the paper's numbers beside ours
    assert comparison(bart).direction()["wins"] == 3  # the protocol's pair: infilling above rotation on every seed
    assert comparison(bart).paper_figure() is not None


def test_the_chapter_runs_end_to_end_on_the_experiment_protocol(tmp_path, monkeypatch):
    """EXPERIMENT.run on a tiny preset: one row per arm and seed with the metrics, and a second run that loads every
    pre-training, fine-tuning and score from the cache and gives the same numbers."""
    import dataclasses
    import math

    from ptmlab.chapters.seq2seq_denoising import EXPERIMENT, PRESETS

    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path))
    monkeypatch.delenv("PTMLAB_SHARED_CACHE", raising=False)
    preset = dataclasses.replace(PRESETS["smoke"], arms=("none", "text_infilling"), pretrain_steps=2,
                                 finetune_steps=2, qa_train=16, qa_test=16)  # fmt: skip
    first = EXPERIMENT.run(preset, progress=None)
    assert [(r["arm"], r["seed"]) for r in first.rows] == [("none", 0), ("text_infilling", 0)]
    assert all(0 <= r["f1"] <= 100 and 0 <= r["exact_match"] <= r["f1"] + 1e-9 for r in first.rows)
    assert math.isnan(first.rows[0]["pretrain_loss"]) and first.rows[1]["pretrain_loss"] > 0
    assert len(list((tmp_path / "scores").glob("06_seq2seq_denoising-*.json"))) == 2  # the protocol's score cache
    lines = []
    second = EXPERIMENT.run(preset, progress=lines.append)
    assert second.rows[1]["from_cache"] and all("cached scores" in line for line in lines)
    assert [(r["f1"], r["exact_match"]) for r in second.rows] == [(r["f1"], r["exact_match"]) for r in first.rows]
    assert set(second.summary()) == {"none", "text_infilling"}
