import math

import torch

from ptmlab.models.heads import MaskedLanguageModel
from ptmlab.objectives.base import Op
from ptmlab.objectives.mlm import MaskedLM


def _ids(batch=200, seq=64, vocab=1000, pad_from=None):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab, (batch, seq), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    if pad_from:
        ids[:, pad_from:] = 0
        ids[:, pad_from - 1] = 3
    return ids


def test_masking_statistics_80_10_10():
    objective = MaskedLM(vocab_size=1000)
    ids = _ids()
    rates, mask_share, random_share, keep_share = [], [], [], []
    for seed in range(20):
        c = objective.corrupt(ids, torch.Generator().manual_seed(seed))
        chosen = c.loss_mask
        rates.append(chosen.sum().item() / (ids.numel() - 2 * len(ids)))
        n = chosen.sum().item()
        mask_share.append((c.record == Op.MASKED).sum().item() / n)
        random_share.append((c.record == Op.REPLACED).sum().item() / n)
        keep_share.append((c.record == Op.UNCHANGED).sum().item() / n)
        assert torch.equal(c.input_ids[c.record == Op.MASKED], torch.full(((c.record == Op.MASKED).sum(),), 4))
        assert torch.equal(c.input_ids[c.record == Op.UNCHANGED], ids[c.record == Op.UNCHANGED])
        assert (c.input_ids[c.record == Op.REPLACED] >= 5).all()  # random tokens are never special
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert abs(mean(rates) - 0.15) < 0.005
    assert abs(mean(mask_share) - 0.8) < 0.01
    assert abs(mean(random_share) - 0.1) < 0.01
    assert abs(mean(keep_share) - 0.1) < 0.01


def test_specials_and_padding_never_masked():
    objective = MaskedLM(vocab_size=1000, mask_prob=0.9)
    ids = _ids(pad_from=40)
    c = objective.corrupt(ids, torch.Generator().manual_seed(0))
    special = (ids == 0) | (ids == 2) | (ids == 3)
    assert not c.loss_mask[special].any()
    assert torch.equal(c.input_ids[special], ids[special])
    assert (c.record[special] == Op.SPECIAL).all()
    assert torch.equal(c.attention_mask, (ids != 0).long())


def test_dynamic_masking_differs_per_draw_and_repeats_per_seed():
    objective = MaskedLM(vocab_size=1000)
    ids = _ids(batch=4)
    a = objective.corrupt(ids, torch.Generator().manual_seed(0)).loss_mask
    b = objective.corrupt(ids, torch.Generator().manual_seed(0)).loss_mask
    c = objective.corrupt(ids, torch.Generator().manual_seed(1)).loss_mask
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_loss_equals_hand_computed_cross_entropy(tiny_config):
    """With the MLM head's logits frozen to known values, the loss is -log softmax at the targets."""
    model = MaskedLanguageModel(tiny_config)
    objective = MaskedLM(vocab_size=60)
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    batch = objective.corrupt(ids, torch.Generator().manual_seed(0))
    batch.loss_mask = torch.tensor([[False, True, False, True, False]])
    batch.input_ids = torch.tensor([[2, 4, 11, 4, 3]])
    logits = torch.zeros(2, 60)
    logits[0, 10], logits[1, 12] = 2.0, 1.0
    model.mlm_head.forward = lambda hidden, positions=None: logits.clone().requires_grad_()
    out = objective.loss(model, batch)
    expected = -0.5 * (math.log(math.exp(2) / (math.exp(2) + 59)) + math.log(math.e / (math.e + 59)))
    assert abs(out.loss.item() - expected) < 1e-5
    assert out.metrics["accuracy"] == 1.0 and out.metrics["n_predicted"] == 2


def test_padding_is_excluded_from_the_loss(tiny_config):
    """Changing what sits in padded positions changes nothing: neither the loss nor the real tokens' states."""
    torch.manual_seed(0)
    model = MaskedLanguageModel(tiny_config).eval()
    objective = MaskedLM(vocab_size=60, mask_prob=0.5)
    ids = torch.tensor([[2, 10, 11, 12, 13, 3, 0, 0, 0]])
    batch = objective.corrupt(ids, torch.Generator().manual_seed(3))
    assert not batch.loss_mask[0, 6:].any()
    first = objective.loss(model, batch).loss.item()
    batch.input_ids[0, 6:] = torch.tensor([20, 30, 40])  # garbage where the padding was
    second = objective.loss(model, batch).loss.item()
    assert abs(first - second) < 1e-5
