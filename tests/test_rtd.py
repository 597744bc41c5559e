"""ELECTRA's replaced-token detection: corruption statistics, sampling, the combined loss, the model, its checkpoint."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ptmlab.models.electra import ElectraConfig, ElectraModel, count_parameters, electra_config
from ptmlab.models.transformer import TransformerConfig
from ptmlab.objectives.base import Op
from ptmlab.objectives.rtd import (
    DISCRIMINATOR_WEIGHT,
    ReplacedTokenDetection,
    discriminator_loss,
    electra_loss,
    sample_replacements,
    training_step_flops,
)

VOCAB = 60


def _blocks(n: int = 64, seq: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (n, seq), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3  # [CLS] ... [SEP]
    ids[: n // 2, -4:] = 0  # some padding
    ids[: n // 2, -5] = 3
    return ids


def _config(**kw) -> TransformerConfig:
    base = dict(vocab_size=VOCAB, max_len=32, d_model=32, n_layers=1, n_heads=4, dropout=0.0)
    return TransformerConfig(**{**base, **kw})


def test_corrupt_masks_fifteen_percent_and_never_specials():
    objective = ReplacedTokenDetection(VOCAB)
    ids = _blocks(400)
    batch = objective.corrupt(ids, torch.Generator().manual_seed(0))
    ordinary = ids >= 5
    rate = batch.loss_mask[ordinary].float().mean().item()
    assert abs(rate - 0.15) < 0.02
    assert not batch.loss_mask[~ordinary].any(), "specials and padding are never masked"
    assert (batch.input_ids[batch.loss_mask] == 4).all(), "the generator sees [MASK] at every chosen slot"
    assert (batch.input_ids[~batch.loss_mask] == ids[~batch.loss_mask]).all()
    assert (batch.record[batch.loss_mask] == int(Op.MASKED)).all()
    assert (batch.record[~ordinary] == int(Op.SPECIAL)).all()
    assert torch.equal(batch.original_ids, ids)
    u = batch.extra["sample_uniform"]
    assert u.shape == ids.shape and float(u.min()) >= 0 and float(u.max()) < 1


def test_corrupt_is_pure_and_seeded():
    objective = ReplacedTokenDetection(VOCAB)
    ids = _blocks(8)
    a = objective.corrupt(ids, torch.Generator().manual_seed(3))
    b = objective.corrupt(ids, torch.Generator().manual_seed(3))
    c = objective.corrupt(ids, torch.Generator().manual_seed(4))
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.extra["sample_uniform"], b.extra["sample_uniform"])
    assert not torch.equal(a.loss_mask, c.loss_mask)
    assert torch.equal(ids, _blocks(8)), "corrupt must not modify its input"


def test_sampling_follows_the_distribution_and_skips_banned_tokens():
    probs = torch.tensor([0.0, 0.5, 0.2, 0.3])
    logits = probs.clamp_min(1e-12).log().expand(20000, 4).clone()
    logits[:, 0] = 5.0  # a very likely but banned token
    u = torch.rand(20000, generator=torch.Generator().manual_seed(0))
    drawn = sample_replacements(logits, u, banned_ids=(0,))
    assert not (drawn == 0).any()
    freq = torch.bincount(drawn, minlength=4).float() / len(drawn)
    assert torch.allclose(freq[1:], torch.tensor([0.5, 0.2, 0.3]), atol=0.015)
    # inverse CDF, by hand: u below 0.5 -> token 1, between 0.5 and 0.7 -> token 2, above -> token 3
    fixed = sample_replacements(logits[:3], torch.tensor([0.1, 0.6, 0.95]), banned_ids=(0,))
    assert fixed.tolist() == [1, 2, 3]


def test_discriminator_loss_by_hand():
    logits = torch.tensor([[0.0, 2.0, -1.0, 5.0]])
    replaced = torch.tensor([[False, True, False, True]])
    positions = torch.tensor([[True, True, True, False]])  # the last one is padding
    by_hand = (math.log(2) + math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 3
    assert discriminator_loss(logits, replaced, positions).item() == pytest.approx(by_hand, rel=1e-5)
    assert electra_loss(torch.tensor(2.0), torch.tensor(0.1)).item() == pytest.approx(2.0 + DISCRIMINATOR_WEIGHT * 0.1)


def test_loss_is_mlm_plus_fifty_times_disc_and_untrained_values_are_as_expected():
    torch.manual_seed(0)
    objective = ReplacedTokenDetection(VOCAB)
    model = objective.build_model(_config())
    model.eval()
    batch = objective.corrupt(_blocks(16), torch.Generator().manual_seed(1))
    out = objective.loss(model, batch)
    m = out.metrics
    assert out.loss.item() == pytest.approx(m["mlm_loss"] + 50 * m["disc_loss"], rel=1e-5)
    # an untrained model: the generator is near uniform over the vocabulary, the discriminator near 1/2 everywhere
    assert m["mlm_loss"] == pytest.approx(math.log(VOCAB), abs=0.3)
    assert m["disc_loss"] == pytest.approx(math.log(2), abs=0.05)
    # with a near-uniform generator almost every masked slot really changes
    assert 0.1 < m["replaced_fraction"] < 0.2


def test_a_sample_equal_to_the_original_is_labelled_original():
    objective = ReplacedTokenDetection(VOCAB)
    model = objective.build_model(_config())
    batch = objective.corrupt(_blocks(8), torch.Generator().manual_seed(2))

    def perfect_generator(input_ids, attention_mask=None, predict_positions=None, token_type_ids=None):
        targets = batch.targets[predict_positions]
        return F.one_hot(targets, VOCAB).float() * 100.0  # certain of the right token

    model.generator_logits = perfect_generator
    _, shown, replaced = objective.generate(model, batch)
    assert torch.equal(shown, batch.original_ids)
    assert not replaced.any()


def test_discriminator_gradient_does_not_reach_the_generator_body():
    torch.manual_seed(0)
    objective = ReplacedTokenDetection(VOCAB, discriminator_weight=50.0)
    model = objective.build_model(_config())
    batch = objective.corrupt(_blocks(8), torch.Generator().manual_seed(0))
    _, shown, replaced = objective.generate(model, batch)
    out = model(shown, batch.attention_mask)
    discriminator_loss(out.extras["replaced_logits"], replaced, batch.attention_mask.bool()).backward()
    generator_grads = [p.grad for p in model.generator.parameters()]
    assert all(g is None or float(g.abs().sum()) == 0 for g in generator_grads)
    assert model.body.tok_emb.weight.grad is not None, "the shared embeddings learn from the discriminator too"


def test_generator_is_narrower_and_shares_the_embeddings():
    config = electra_config(_config(d_model=64, n_heads=4), generator_fraction=0.25)
    model = ElectraModel(config)
    assert config.generator_config().d_model == 16
    assert model.generator.config.d_model == 16 and len(model.generator.blocks) == config.n_layers
    assert count_parameters(model.generator) < count_parameters(model.body) / 3
    half = ElectraModel(electra_config(_config(d_model=64, n_heads=4), generator_fraction=0.5))
    assert half.generator.config.d_model == 32
    # tied: the generator's output softmax reads the discriminator's token embeddings
    ids = _blocks(2)
    logits = model.generator_logits(ids)
    assert logits.shape == (2, ids.shape[1], VOCAB)
    with torch.no_grad():
        model.body.tok_emb.weight[7] += 10.0
    assert not torch.allclose(model.generator_logits(ids)[..., 7], logits[..., 7])
    with pytest.raises(ValueError):
        ElectraConfig(vocab_size=VOCAB, generator_fraction=0.0)


def test_checkpoint_round_trip_keeps_the_generator_width(tmp_path):
    from ptmlab.train.checkpoint import load_checkpoint, save_checkpoint

    model = ElectraModel(electra_config(_config(d_model=64, n_heads=4), generator_fraction=0.5)).eval()
    path = save_checkpoint(tmp_path / "electra", model, {"note": "test"})
    loaded, sidecar = load_checkpoint(path)
    assert isinstance(loaded, ElectraModel) and loaded.config.generator_fraction == 0.5
    ids = _blocks(2)
    assert torch.allclose(loaded.eval()(ids).extras["replaced_logits"], model(ids).extras["replaced_logits"])


def test_flops_estimate_counts_the_generator():
    config = _config(d_model=64, n_heads=4, vocab_size=1000)
    mlm = training_step_flops("mlm", config, 32, 32)
    rtd = training_step_flops("rtd", config, 32, 32, generator_fraction=0.25)
    bigger = training_step_flops("rtd", config, 32, 32, generator_fraction=1.0)
    assert mlm < rtd < bigger
    assert rtd / mlm < 2.0, "a quarter-width generator adds well under one discriminator's cost"
    with pytest.raises(ValueError):
        training_step_flops("plm", config, 32, 32)


def test_a_few_training_steps_lower_the_loss():
    from ptmlab.train.trainer import TrainConfig, Trainer

    torch.manual_seed(0)
    objective = ReplacedTokenDetection(VOCAB)
    model = objective.build_model(_config())
    g = torch.Generator().manual_seed(0)
    # a learnable corpus: each row counts up from a random start
    starts = torch.randint(5, 30, (64, 1), generator=g)
    ids = (starts + torch.arange(20)).clamp_max(VOCAB - 1)
    ids[:, 0], ids[:, -1] = 2, 3
    config = TrainConfig(steps=60, batch_size=16, lr=3e-3, warmup=5, eval_every=0, seed=0)
    result = Trainer(model, objective, ids, config, device="cpu", live_plot=False).fit()
    first = sum(r["loss"] for r in result.history[:5]) / 5
    last = sum(r["loss"] for r in result.history[-5:]) / 5
    assert last < first * 0.8


def test_objective_loss_on_a_tiny_case_by_hand():
    """One row [CLS] a b [SEP], b masked; a stub generator and discriminator with known logits; the loss by hand."""
    from types import SimpleNamespace

    vocab = 8
    objective = ReplacedTokenDetection(vocab, mask_prob=0.15)
    ids = torch.tensor([[2, 5, 5, 3]])
    loss_mask = torch.tensor([[False, False, True, False]])
    batch = objective.corrupt(ids, torch.Generator().manual_seed(0))
    batch.input_ids = torch.where(loss_mask, 4, ids)
    batch.loss_mask, batch.targets = loss_mask, ids
    batch.extra["sample_uniform"] = torch.tensor([[0.0, 0.0, 0.9, 0.0]])  # u = 0.9 picks the last allowed token

    class Stub(torch.nn.Module):
        def generator_logits(self, input_ids, attention_mask=None, predict_positions=None, token_type_ids=None):
            return torch.zeros(int(predict_positions.sum()), vocab)  # uniform over the 8 ids

        def forward(self, input_ids, attention_mask=None):
            self.seen = input_ids
            return SimpleNamespace(extras={"replaced_logits": torch.tensor([[0.0, 1.0, 2.0, -1.0]])})

    stub = Stub()
    out = objective.loss(stub, batch)
    # specials 0-4 are banned, so the sample is uniform over {5, 6, 7}: CDF 1/3, 2/3, 1, and u = 0.9 draws 7
    assert stub.seen.tolist() == [[2, 5, 7, 3]]
    mlm = math.log(vocab)  # the MLM loss still uses all 8 logits: -log(1/8)
    # labels 0, 0, 1, 0: an original costs log(1 + e^z), the replaced one log(1 + e^-z)
    disc = (math.log(2) + math.log(1 + math.e) + math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-1.0))) / 4
    assert out.metrics["mlm_loss"] == pytest.approx(mlm, rel=1e-5)
    assert out.metrics["disc_loss"] == pytest.approx(disc, rel=1e-5)
    assert out.loss.item() == pytest.approx(mlm + 50 * disc, rel=1e-5)
    assert out.metrics["replaced_fraction"] == pytest.approx(1 / 4)
