import pytest
import torch

from ptmlab.errors import InputError
from ptmlab.models.heads import CausalLanguageModel, MaskedLanguageModel
from ptmlab.models.transformer import Transformer, TransformerConfig


def test_shapes_and_every_layer(tiny_config):
    model = Transformer(tiny_config).eval()
    ids = torch.randint(5, 60, (3, 10))
    out = model(ids, output_attentions=True)
    assert out.last_hidden_state.shape == (3, 10, 32)
    assert len(out.hidden_states) == tiny_config.n_layers + 1
    assert len(out.attentions) == tiny_config.n_layers
    assert out.attentions[0].shape == (3, 4, 10, 10)
    assert torch.allclose(out.attentions[1].sum(-1), torch.ones(3, 4, 10), atol=1e-5)
    assert model(ids).attentions is None  # weights only when asked


@pytest.mark.parametrize("causal", [False, True])
def test_fused_and_explicit_attention_agree(tiny_config, causal):
    config = TransformerConfig(**{**tiny_config.to_dict(), "causal": causal})
    model = Transformer(config).eval()
    ids = torch.randint(5, 60, (2, 12))
    mask = torch.ones_like(ids)
    mask[0, 8:] = 0
    fast = model(ids, mask).last_hidden_state
    explicit = model(ids, mask, output_attentions=True)
    assert torch.allclose(fast, explicit.last_hidden_state, atol=1e-5)
    assert explicit.attentions[0][0, :, :, 8:].abs().max() == 0  # padding gets no attention
    if causal:
        assert torch.triu(explicit.attentions[0][1], diagonal=1).abs().max() == 0  # no peeking at the future


def test_hook_points_capture_named_activations(tiny_config):
    model = MaskedLanguageModel(tiny_config).eval()
    names = set(model.hook_points())
    assert {"body.blocks.0.attn.pattern", "body.blocks.1.attn.q", "body.blocks.0.mlp.hidden", "body.embed"} <= names
    ids = torch.randint(5, 60, (1, 7))
    _, cache = model.run_with_cache(ids, names=["body.blocks.1.attn.pattern", "body.blocks.0.mlp.hidden"])
    assert cache["body.blocks.1.attn.pattern"].shape == (1, 4, 7, 7)
    assert cache["body.blocks.0.mlp.hidden"].shape == (1, 7, 128)
    assert not any(p.active for p in model.hook_points().values())  # hooks removed afterwards


def test_hook_can_edit_activation(tiny_config):
    model = Transformer(tiny_config).eval()
    ids = torch.randint(5, 60, (1, 6))
    base = model(ids).last_hidden_state
    with model.hooks({"blocks.0.attn.z": lambda z, _: torch.zeros_like(z)}):
        ablated = model(ids).last_hidden_state
    assert not torch.allclose(base, ablated)


def test_mlm_head_scores_only_masked_positions(tiny_config):
    model = MaskedLanguageModel(tiny_config)
    ids = torch.randint(5, 60, (2, 9))
    positions = torch.zeros_like(ids, dtype=torch.bool)
    positions[0, 3] = positions[1, 5] = True
    logits = model(ids, predict_positions=positions).extras["logits"]
    assert logits.shape == (2, 60)
    full = model(ids).extras["logits"]
    assert torch.allclose(full[positions], logits, atol=1e-5)
    assert model.mlm_head.embedding.weight is model.body.tok_emb.weight  # tied


def test_causal_lm_ignores_future_tokens(tiny_config):
    model = CausalLanguageModel(tiny_config).eval()
    ids = torch.randint(5, 60, (1, 8))
    changed = ids.clone()
    changed[0, -1] = 5 if ids[0, -1] != 5 else 6
    a, b = model(ids).extras["logits"], model(changed).extras["logits"]
    assert torch.allclose(a[0, :-1], b[0, :-1], atol=1e-5)


def test_bad_inputs_give_clear_errors(tiny_config):
    model = Transformer(tiny_config)
    with pytest.raises(InputError, match="at most 16"):
        model(torch.randint(5, 60, (1, 17)))
    with pytest.raises(InputError, match="seq > 0"):
        model(torch.zeros((1, 0), dtype=torch.long))
    with pytest.raises(InputError, match="vocabulary"):
        model(torch.tensor([[5, 99]]))
    with pytest.raises(InputError, match="divisible"):
        TransformerConfig(d_model=30, n_heads=4)


def test_alibi_gives_every_head_a_distance_penalty_on_both_attention_paths():
    """ALiBi (Press et al. 2022): the fused and the explicit path agree, padding stays masked, head 0 starts local,
    and the option adds no weights (a checkpoint's keys are the same with it on or off)."""
    import torch

    from ptmlab.models.transformer import Transformer, TransformerConfig

    config = TransformerConfig(vocab_size=50, max_len=16, d_model=32, n_layers=2, n_heads=4, dropout=0.0, alibi=True)
    torch.manual_seed(0)
    model = Transformer(config).eval()
    ids = torch.randint(5, 50, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    fused = model(ids, mask).last_hidden_state
    explicit = model(ids, mask, output_attentions=True)
    assert torch.allclose(fused, explicit.last_hidden_state, atol=1e-5)
    weights = explicit.attentions[0]  # [batch, heads, query, key]
    assert float(weights[1, :, :, 9:].max()) == 0.0  # padding is never attended
    head0 = weights[0, 0]
    assert float(head0[5, 4]) > 2 * float(head0[5, 11])  # near beats far before any training
    plain = Transformer(TransformerConfig(vocab_size=50, max_len=16, d_model=32, n_layers=2, n_heads=4))
    assert set(plain.state_dict()) == set(model.state_dict())
