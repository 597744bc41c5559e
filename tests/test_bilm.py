"""The ELMo-style BiLM: two directions, shared embeddings and softmax, the scalar mix (Peters et al. 2018)."""

import math

import pytest
import torch

from ptmlab.errors import InputError
from ptmlab.models.bilm import BiLanguageModel, BiLMConfig, ELMo, ScalarMix, reverse_padded
from ptmlab.objectives.base import Op
from ptmlab.objectives.bilm import BiLM, bilm_perplexities
from ptmlab.train.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def fit(model, objective, blocks, **config):
    return Trainer(model, objective, blocks, TrainConfig(eval_every=0, **config), device="cpu", live_plot=False).fit()


@pytest.fixture
def bilm_config():
    return BiLMConfig(vocab_size=60, max_len=16, d_model=16, n_layers=2, dropout=0.0)


def test_reverse_padded_flips_only_the_real_tokens():
    x = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]])
    lengths = torch.tensor([3, 5])
    assert reverse_padded(x, lengths).tolist() == [[3, 2, 1, 0, 0], [8, 7, 6, 5, 4]]
    features = torch.randn(2, 5, 3)
    assert torch.equal(reverse_padded(reverse_padded(features, lengths), lengths), features)


def test_corruption_targets_both_directions():
    ids = torch.tensor([[2, 10, 11, 12, 3, 0, 0]])
    c = BiLM().corrupt(ids, torch.Generator().manual_seed(0))
    assert torch.equal(c.input_ids, ids)
    # forward: position t predicts t + 1 (10, 11, 12, [SEP]); never [PAD]
    assert c.targets[c.loss_mask].tolist() == [10, 11, 12, 3]
    assert c.loss_mask.tolist() == [[True, True, True, True, False, False, False]]
    # backward: position t predicts t - 1 (10, 11, 12 from positions 2, 3, 4); never [CLS] and never from padding
    bwd = c.extra["backward_mask"]
    assert bwd.tolist() == [[False, False, True, True, True, False, False]]
    assert c.extra["backward_targets"][bwd].tolist() == [10, 11, 12]
    assert c.record.tolist() == [[Op.SPECIAL] + [Op.PREDICTED] * 3 + [Op.PREDICTED] + [Op.SPECIAL] * 2]


def test_corruption_is_the_same_for_every_seed_and_skips_padding():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (32, 20), generator=g)
    ids[:, 0], ids[:, 12], ids[:, 13:] = 2, 3, 0
    a = BiLM().corrupt(ids, torch.Generator().manual_seed(0))
    b = BiLM().corrupt(ids, torch.Generator().manual_seed(9))
    assert torch.equal(a.loss_mask, b.loss_mask) and torch.equal(a.extra["backward_mask"], b.extra["backward_mask"])
    pad = ids == 0
    assert not a.extra["backward_mask"][pad].any() and not a.loss_mask[pad].any()
    assert not torch.isin(a.extra["backward_targets"][a.extra["backward_mask"]], torch.tensor([0, 2])).any()
    assert (a.record[pad] == Op.SPECIAL).all()
    # each row predicts its 12 real tokens after [CLS] forward (11 words + [SEP]) and its 11 words backward
    assert (a.loss_mask.sum(1) == 12).all() and (a.extra["backward_mask"].sum(1) == 11).all()


def test_directions_see_only_their_side(bilm_config):
    torch.manual_seed(0)
    model = BiLanguageModel(bilm_config).eval()
    ids = torch.randint(5, 60, (1, 10))
    changed = ids.clone()
    changed[0, 6] = (ids[0, 6] + 1 - 5) % 55 + 5  # change one token
    a, b = model(ids), model(changed)
    fwd_a, fwd_b = a.extras["forward_state"], b.extras["forward_state"]
    bwd_a, bwd_b = a.extras["backward_state"], b.extras["backward_state"]
    assert torch.allclose(fwd_a[0, :6], fwd_b[0, :6]) and not torch.allclose(fwd_a[0, 6:], fwd_b[0, 6:])
    assert torch.allclose(bwd_a[0, 7:], bwd_b[0, 7:]) and not torch.allclose(bwd_a[0, :7], bwd_b[0, :7])


def test_padding_does_not_change_the_states(bilm_config):
    torch.manual_seed(0)
    model = BiLanguageModel(bilm_config).eval()
    ids = torch.randint(5, 60, (1, 7))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    alone, with_pad = model(ids), model(padded, (padded != 0).long())
    for x, y in zip(alone.hidden_states, with_pad.hidden_states):
        assert torch.allclose(x[0], y[0, :7], atol=1e-6)


def test_shared_embeddings_and_softmax(bilm_config):
    model = BiLanguageModel(bilm_config)
    names = [n for n, _ in model.named_parameters()]
    assert sum("tok_emb" in n for n in names) == 1  # one embedding table for both directions
    assert sum(n.startswith("softmax.") for n in names) == 2  # one softmax (weight, bias) for both
    assert len(model.body.forward_layers) == len(model.body.backward_layers) == 2  # separate LSTMs
    out = model(torch.randint(5, 60, (2, 9)))
    assert len(out.hidden_states) == 3 and out.hidden_states[0].shape == (2, 9, 32)  # [fwd; bwd] = 2 * d_model
    assert out.extras["forward_logits"].shape == (2, 9, 60)


def test_loss_equals_the_mean_of_the_two_directions(bilm_config):
    torch.manual_seed(0)
    model = BiLanguageModel(bilm_config).eval()
    ids = torch.tensor([[2, 7, 8, 9, 3]])
    batch = BiLM().corrupt(ids)
    out = model(ids)
    logp_f = out.extras["forward_logits"].log_softmax(-1)[0]
    logp_b = out.extras["backward_logits"].log_softmax(-1)[0]
    forward_nll = -(logp_f[0, 7] + logp_f[1, 8] + logp_f[2, 9] + logp_f[3, 3]) / 4
    backward_nll = -(logp_b[2, 7] + logp_b[3, 8] + logp_b[4, 9]) / 3
    result = BiLM().loss(model, batch)
    assert result.loss.item() == pytest.approx(((forward_nll + backward_nll) / 2).item(), rel=1e-5)
    assert result.metrics["forward_perplexity"] == pytest.approx(math.exp(forward_nll.item()), rel=1e-4)


def test_training_lowers_both_perplexities(bilm_config, tiny_blocks):
    torch.manual_seed(0)
    objective = BiLM()
    model = objective.build_model(bilm_config)
    before = bilm_perplexities(model, tiny_blocks)
    fit(model, objective, tiny_blocks, steps=60, batch_size=16, lr=1e-2, warmup=5)
    after = bilm_perplexities(model, tiny_blocks)
    assert after[0] < before[0] / 3 and after[1] < before[1] / 3


def test_scalar_mix_is_gamma_times_a_softmax_weighted_sum():
    mix = ScalarMix(3)
    layers = [torch.randn(2, 4, 5) for _ in range(3)]
    assert torch.allclose(mix(layers), sum(layers) / 3, atol=1e-6)  # equal weights at the start
    with torch.no_grad():
        mix.logits.copy_(torch.tensor([0.0, 1.0, 2.0]))
        mix.gamma.fill_(2.0)
    s = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)
    assert torch.allclose(mix.weights, s) and mix.weights.sum().item() == pytest.approx(1.0)
    expected = 2.0 * (s[0] * layers[0] + s[1] * layers[1] + s[2] * layers[2])
    assert torch.allclose(mix(layers), expected, atol=1e-6)
    assert torch.allclose(mix(torch.stack(layers, dim=2), dim=2), expected, atol=1e-6)
    with pytest.raises(InputError, match="3 layers"):
        mix(layers[:2])


def test_elmo_module_learns_only_the_mix_when_frozen(bilm_config):
    bilm = BiLanguageModel(bilm_config)
    elmo = ELMo(bilm)
    trainable = [n for n, p in elmo.named_parameters() if p.requires_grad]
    assert trainable == ["mix.logits", "mix.gamma"]
    vectors = elmo(torch.randint(5, 60, (2, 6)))
    assert vectors.shape == (2, 6, 32)
    vectors.sum().backward()
    assert elmo.mix.logits.grad is not None


def test_bad_input_is_refused(bilm_config):
    model = BiLanguageModel(bilm_config)
    with pytest.raises(InputError):
        model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(InputError, match="vocabulary"):
        model(torch.tensor([[2, 99]]))
    with pytest.raises(InputError):
        BiLMConfig(d_model=0)


def test_forward_half_is_the_causal_lm_and_a_saved_bilm_reloads(bilm_config, tmp_path):
    from ptmlab.objectives.lm import CausalLM
    from ptmlab.train.checkpoint import load_checkpoint, save_checkpoint

    ids = torch.tensor([[2, 10, 11, 12, 3, 0], [2, 13, 3, 0, 0, 0]])
    bilm, lm = BiLM().corrupt(ids), CausalLM().corrupt(ids)
    assert torch.equal(bilm.targets, lm.targets) and torch.equal(bilm.loss_mask, lm.loss_mask)
    torch.manual_seed(0)
    model = BiLanguageModel(bilm_config).eval()
    path = save_checkpoint(tmp_path / "bilm", model)
    again, _ = load_checkpoint(path)  # rebuilt from the class name and BiLMConfig, as the run cache does
    assert isinstance(again, BiLanguageModel) and again.config == bilm_config
    x = torch.randint(5, 60, (2, 8))
    assert torch.allclose(model(x).extras["forward_logits"], again.eval()(x).extras["forward_logits"])


def test_the_corruption_view_draws_the_bilm():
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.viz.corruption import show_corruption

    tokenizer = train_tokenizer(["the cat sat on the mat ."] * 3, kind="word", vocab_size=100)
    html = show_corruption(BiLM(), tokenizer, "the cat sat .", title="bilm").data
    assert html.count('title="predicted"') == 5  # the cat sat . [SEP]: from one side or both; [CLS] never
    assert "masked" not in html
