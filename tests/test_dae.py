"""BART's five noisings and T5's deshuffling (survey 3.1.4): statistics over many draws, specials untouched, what each
op leaves for the decoder, a hand-computed loss and a few training steps."""

import math
from collections import Counter

import pytest
import torch
from seq2seq_helpers import first_and_last_loss

from ptmlab.errors import InputError
from ptmlab.models.seq2seq import EncoderDecoder
from ptmlab.models.transformer import TransformerConfig
from ptmlab.objectives.base import Op
from ptmlab.objectives.dae import NOISINGS, DenoisingAutoencoder
from ptmlab.objectives.seq2seq import seq2seq_loss

pytestmark = pytest.mark.usefixtures("one_thread")

SPECIAL = torch.tensor([0, 1, 2, 3, 4])


def _documents(batch=200, seq=64, vocab=500, seed=0):
    """[CLS] s1 [SEP] s2 [SEP] ... with sentences of 4-12 tokens, then padding after a random length."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(batch, seq, dtype=torch.long)
    for b in range(batch):
        length = int(torch.randint(seq // 2, seq + 1, (1,), generator=g))
        row, next_sep = [2], int(torch.randint(4, 13, (1,), generator=g))
        while len(row) < length - 1:
            if len(row) == next_sep:
                row.append(3)
                next_sep += int(torch.randint(5, 14, (1,), generator=g))
            else:
                row.append(int(torch.randint(5, vocab, (1,), generator=g)))
        row.append(3)
        ids[b, : len(row)] = torch.tensor(row)
    return ids


def _content(ids):
    return ~torch.isin(ids, SPECIAL)


def _sentences(row):
    """The sentences of a row (lists ending with [SEP]), without [CLS] and padding."""
    out, current = [], []
    for t in row:
        if t in (0, 2):
            continue
        current.append(t)
        if t == 3:
            out.append(tuple(current))
            current = []
    if current:
        out.append(tuple(current))
    return out


def _encoder_rows(c):
    return [r[m.bool()].tolist() for r, m in zip(c.input_ids, c.attention_mask)]


@pytest.mark.parametrize("noising", list(NOISINGS))
def test_specials_and_padding_never_corrupted_and_pure(noising):
    ids = _documents(batch=40)
    objective = DenoisingAutoencoder(noising)
    a = objective.corrupt(ids, torch.Generator().manual_seed(0))
    b = objective.corrupt(ids, torch.Generator().manual_seed(0))
    other = objective.corrupt(ids, torch.Generator().manual_seed(1))
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.record, b.record)
    assert not torch.equal(a.record, other.record)
    special = torch.isin(ids, SPECIAL)
    assert (a.record[special] == Op.SPECIAL).all() and not (a.record[~special] == Op.SPECIAL).any()
    for row, enc in zip(ids.tolist(), _encoder_rows(a)):
        kept = Counter(t for t in row if t in (2, 3))
        seen = Counter(t for t in enc if t in (2, 3))
        assert kept == seen  # every [CLS] and [SEP] survives (rotation and permutation may move [SEP]s)
        assert enc[0] == 2 and 0 not in enc
    # the decoder rewrites the whole original: input [CLS] x1.., target x1.. and one [PAD] marking the end
    width = a.targets.shape[1] + 1
    assert torch.equal(a.decoder_input_ids, ids[:, : width - 1]) and torch.equal(a.targets, ids[:, 1:width])
    lengths = (ids != 0).sum(1)
    assert torch.equal(a.loss_mask.sum(1), torch.minimum(lengths, torch.tensor(width - 1)))


def test_token_masking_rate():
    ids = _documents()
    c = DenoisingAutoencoder("token_masking", mask_ratio=0.3).corrupt(ids, torch.Generator().manual_seed(0))
    masked = c.record == Op.MASKED
    assert abs(masked.sum().item() / _content(ids).sum().item() - 0.3) < 0.015
    assert torch.equal(c.input_ids[:, : ids.shape[1]][masked], torch.full((int(masked.sum()),), 4))
    assert torch.equal(c.input_ids[~masked], ids[:, : c.input_ids.shape[1]][~masked])  # nothing else changes


def test_token_deletion_removes_exactly_the_recorded_tokens():
    ids = _documents()
    c = DenoisingAutoencoder("token_deletion", mask_ratio=0.3).corrupt(ids, torch.Generator().manual_seed(0))
    deleted = c.record == Op.DELETED
    assert abs(deleted.sum().item() / _content(ids).sum().item() - 0.3) < 0.015
    for row, gone, enc in zip(ids, deleted, _encoder_rows(c)):
        assert enc == row[(row != 0) & ~gone].tolist()  # order kept, no [MASK] left behind: where is the gap?
        assert 4 not in enc


def test_text_infilling_spans_are_poisson_and_get_one_mask_each():
    ids = _documents(batch=400, seq=96)
    objective = DenoisingAutoencoder("text_infilling", mask_ratio=0.3, poisson_lambda=3.0)
    c = objective.corrupt(ids, torch.Generator().manual_seed(0))
    masked = c.record == Op.MASKED
    share = masked.sum().item() / _content(ids).sum().item()
    assert abs(share - 0.3) < 0.02  # round(30%) per row, minus the rare span that found no room
    n_masks = sum(enc.count(4) for enc in _encoder_rows(c))
    n_inserted = int(c.extra["insertions"].sum())
    # one [MASK] per span, whatever its length; a 0-length span inserts a [MASK] and hides nothing
    assert n_masks == n_inserted + sum(_runs(m.tolist()) for m in masked)
    assert abs(masked.sum().item() / n_masks - 3.0) < 0.35  # mean span length, counting the 0-length ones
    assert abs(n_inserted / n_masks - math.exp(-3)) < 0.02  # P(length 0) under Poisson(3)
    for row, gone, enc, src in zip(ids, masked, _encoder_rows(c), c.extra["source_index"].tolist()):
        assert [t for t in enc if t != 4] == row[(row != 0) & ~gone].tolist()
        assert [s for s in src if s >= 0] == ((row != 0) & ~gone).nonzero().flatten().tolist()


def _runs(flags):
    return sum(1 for i, f in enumerate(flags) if f and (i == 0 or not flags[i - 1]))


def test_span_lengths_follow_poisson():
    objective = DenoisingAutoencoder("text_infilling", poisson_lambda=3.0)
    g = torch.Generator().manual_seed(0)
    lengths = [x for _ in range(200) for x in objective.span_lengths(60, g)[:-1]]  # the last one is cut to fit
    mean = sum(lengths) / len(lengths)
    var = sum((x - mean) ** 2 for x in lengths) / len(lengths)
    assert abs(mean - 3) < 0.15 and abs(var - 3) < 0.4
    assert all(sum(objective.span_lengths(n, g)) == n for n in (1, 7, 30))


def test_sentence_permutation_keeps_sentences_whole():
    ids = _documents()
    c = DenoisingAutoencoder("sentence_permutation").corrupt(ids, torch.Generator().manual_seed(0))
    first_stays = 0
    for row, enc, rec in zip(ids.tolist(), _encoder_rows(c), c.record):
        original, shuffled = _sentences(row), _sentences(enc)
        assert sorted(original) == sorted(shuffled)  # the same sentences, each intact
        first_stays += shuffled[0] == original[0]
        moved_tokens = (rec == Op.PERMUTED).sum().item()
        assert (moved_tokens == 0) == (shuffled == original)
    assert 0.05 < first_stays / len(ids) < 0.35  # about 1 / (number of sentences)


def test_document_rotation_starts_at_a_uniform_token():
    ids = _documents(batch=1, seq=30).repeat(3000, 1)
    c = DenoisingAutoencoder("document_rotation").corrupt(ids, torch.Generator().manual_seed(0))
    body = ids[0][1 : int((ids[0] != 0).sum())].tolist()
    for enc in _encoder_rows(c)[:50]:
        r = enc[1:]
        assert any(r == body[k:] + body[:k] for k in range(len(body)))  # a rotation of the body after [CLS]
    starts = Counter(c.extra["rotation"].tolist())
    n_content = int(_content(ids[0]).sum())
    assert starts[-1] / 3000 == pytest.approx(1 / n_content, abs=0.02)  # the first token drawn: no rotation
    counts = [starts[p] for p in _content(ids[0]).nonzero().flatten().tolist() if p != 1]
    assert max(counts) / min(counts) < 1.8 and len(counts) == n_content - 1
    rotated = c.extra["rotation"] >= 0
    assert (c.record[rotated][_content(ids[rotated])] == Op.ROTATED).all()


def test_token_shuffling_is_a_permutation_of_the_content():
    ids = _documents()
    c = DenoisingAutoencoder("token_shuffling").corrupt(ids, torch.Generator().manual_seed(0))
    for row, enc in zip(ids, _encoder_rows(c)):
        real = row[row != 0]
        assert sorted(enc) == sorted(real.tolist())
        enc = torch.tensor(enc)
        assert torch.equal(enc[~_content(real)], real[~_content(real)])  # specials stay put
    assert (c.record == Op.PERMUTED).sum() / _content(ids).sum() > 0.9


def test_bart_final_combination_and_bad_names():
    ids = _documents(batch=20)
    c = DenoisingAutoencoder(("sentence_permutation", "text_infilling")).corrupt(ids, torch.Generator().manual_seed(0))
    ops = set(c.record.unique().tolist())
    assert {int(Op.PERMUTED), int(Op.MASKED)} <= ops
    with pytest.raises(InputError, match="noising"):
        DenoisingAutoencoder("token_rotation")
    with pytest.raises(InputError):
        DenoisingAutoencoder("token_masking", mask_ratio=1.5)


def test_loss_matches_hand_computation():
    config = TransformerConfig(vocab_size=500, max_len=64, d_model=32, n_layers=1, n_heads=2, dropout=0.0)
    torch.manual_seed(0)
    model = EncoderDecoder(config).eval()
    ids = _documents(batch=3, seq=20)
    batch = DenoisingAutoencoder("text_infilling").corrupt(ids, torch.Generator().manual_seed(0))
    logits = model(batch.input_ids, batch.attention_mask, batch.decoder_input_ids).logits
    total, count = 0.0, 0
    for b in range(3):
        for t in range(batch.targets.shape[1]):
            if batch.loss_mask[b, t]:
                total -= logits[b, t].log_softmax(-1)[batch.targets[b, t]].item()
                count += 1
    out = seq2seq_loss(model, batch)
    assert math.isclose(out.loss.item(), total / count, rel_tol=1e-5)
    assert out.metrics["n_predicted"] == count and "noised_accuracy" in out.metrics


@pytest.mark.parametrize("noising", ["text_infilling", "document_rotation"])
def test_a_few_steps_lower_the_loss(noising):
    data = _documents(batch=64, seq=24, vocab=40)
    first, last = first_and_last_loss(DenoisingAutoencoder(noising), data, vocab_size=40, steps=50)
    assert last < first - 0.3


# ----------------------------------------------------------------------------- the views
@pytest.fixture(scope="module")
def world_tokenizer():
    from ptmlab.chapters.seq2seq_denoising import build_tokenizer

    return build_tokenizer(2)


def test_noisings_side_by_side_view(world_tokenizer):
    from ptmlab.viz.denoising import BART_NOISINGS, EXAMPLE, NOISING_TITLES, noise_text, noisings_html

    page = noisings_html(world_tokenizer, EXAMPLE, seed=1)
    for noising in BART_NOISINGS:
        assert NOISING_TITLES[noising] in page
    assert page.count("<tr>") == 5 and "line-through" in page  # deleted tokens are struck through
    rotated = noise_text(world_tokenizer, EXAMPLE, "document_rotation", seed=1)
    body, moved = rotated.original[1:], rotated.inputs[1:]
    assert any(moved == body[k:] + body[:k] for k in range(1, len(body)))
    assert all(op == Op.ROTATED for t, op in zip(rotated.inputs, rotated.input_ops) if t not in ("[CLS]", "[SEP]"))
    infilled = noise_text(world_tokenizer, EXAMPLE, "text_infilling", seed=1)
    assert infilled.inputs.count("[MASK]") >= 1 and len(infilled.inputs) < len(infilled.original)
    with pytest.raises(InputError, match="empty"):
        noise_text(world_tokenizer, "   ", "token_masking")


def test_explorers_work_headless_and_show_errors(world_tokenizer):
    from ptmlab.viz.denoising import seq2seq_attention
    from ptmlab.widgets.denoising import CrossAttentionExplorer, DenoisingExplorer

    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=world_tokenizer.vocab_size, max_len=64, d_model=16, n_layers=2, n_heads=2)
    model = EncoderDecoder(config).eval()
    app = DenoisingExplorer(world_tokenizer, models={"text_infilling": model})
    assert "decoder writes" in app.output.value and "Text infilling" in app.output.value
    app.text.value = ""
    assert "empty" in app.output.value  # a message, not a traceback
    data = seq2seq_attention(model, world_tokenizer, "otto blackwood is a veterinarian .", "token_deletion", seed=0)
    n_enc, n_dec = len(data["encoder_tokens"]), len(data["decoder_tokens"])
    assert data["cross_attention"][0].shape == (1, 2, n_dec, n_enc)
    assert data["decoder_attention"][1].shape == (1, 2, n_dec, n_dec)
    explorer = CrossAttentionExplorer({"token_deletion": model, "document_rotation": model}, world_tokenizer)
    assert len(explorer.figure.data) == 1
    explorer.noising.value = "document_rotation"
    assert "rotation" in explorer.figure.layout.title.text.lower()


def test_the_corruption_view_draws_every_objective(world_tokenizer):
    from ptmlab.objectives.seq2seq import MASS, T5SpanCorruption, sentinel_ids
    from ptmlab.viz.corruption import COLOURS, show_corruption

    text = "otto blackwood is a veterinarian . [SEP] he was born in umbermoor . [SEP] he works for saltmarsh farms ."
    expected = {
        "token_masking": Op.MASKED,
        "token_deletion": Op.DELETED,
        "text_infilling": Op.MASKED,
        "sentence_permutation": Op.PERMUTED,
        "document_rotation": Op.ROTATED,
        "token_shuffling": Op.PERMUTED,
    }
    objectives = [(DenoisingAutoencoder(n), op) for n, op in expected.items()]
    objectives += [(MASS(), Op.MASKED), (T5SpanCorruption(sentinel_ids(world_tokenizer)), Op.MASKED)]
    for objective, op in objectives:
        page = show_corruption(objective, world_tokenizer, text, seed=3).data
        assert f'title="{COLOURS[op][1]}"' in page, objective.name  # at least one token coloured by its op


def test_loss_on_a_tiny_case_by_hand():
    """Two tiny documents: the decoder predicts every token after [CLS] and the end [PAD]; a model whose logits are
    all equal pays ln(V) per token, one that puts 2 nats more on the right token pays ln(1 + (V-1)/e^2)."""

    class Constant(torch.nn.Module):
        def __init__(self, bonus):
            super().__init__()
            self.bonus = bonus

        def forward(
            self, input_ids, attention_mask, decoder_input_ids, decoder_position_ids=None, predict_positions=None
        ):
            from types import SimpleNamespace

            logits = torch.zeros(*decoder_input_ids.shape, 8)
            logits.scatter_(-1, self.targets[..., None], self.bonus)
            return SimpleNamespace(logits=logits[predict_positions])

    ids = torch.tensor([[2, 5, 6, 3, 0], [2, 5, 6, 7, 3]])
    batch = DenoisingAutoencoder("token_masking", mask_ratio=0.5).corrupt(ids, torch.Generator().manual_seed(0))
    assert batch.decoder_input_ids.tolist() == [[2, 5, 6, 3], [2, 5, 6, 7]]
    assert batch.targets.tolist() == [[5, 6, 3, 0], [5, 6, 7, 3]]
    assert batch.loss_mask.all()  # the first [PAD] after the text is the end target; the longest row has none
    for bonus, expected in ((0.0, math.log(8)), (2.0, math.log(1 + 7 / math.e**2))):
        model = Constant(bonus)
        model.targets = batch.targets
        out = seq2seq_loss(model, batch)
        assert math.isclose(out.loss.item(), expected, rel_tol=1e-6)
        assert out.metrics["n_predicted"] == 8


def test_exercise_solutions_pass_and_wrong_answers_fail():
    from ptmlab.exercises.denoising import DocumentRotation, SentinelTargets, TextInfilling

    wrong = {
        SentinelTargets: lambda tokens, noise, sentinels: (tokens, []),  # forgets to hide anything
        TextInfilling: lambda tokens, spans, mask_id=4: [
            mask_id if i in dict(spans) else t for i, t in enumerate(tokens)
        ],
        DocumentRotation: lambda tokens, generator: list(tokens),  # never rotates
    }
    for cls, bad in wrong.items():
        namespace: dict = {}
        exec("import torch\n" + cls.solution_code, namespace)
        solution = next(v for k, v in namespace.items() if callable(v) and not k.startswith("__") and k != "torch")
        assert cls().check(solution) is True, cls.__name__
        assert cls().check(bad) is False, cls.__name__
