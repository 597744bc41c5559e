"""The causal LM objective, perplexity and sampling (survey 3.1.1; GPT)."""

import math

import pytest
import torch
import torch.nn.functional as F

from ptmlab.errors import InputError
from ptmlab.models.heads import CausalLanguageModel, MaskedLanguageModel
from ptmlab.objectives.base import Op
from ptmlab.objectives.lm import CausalLM, perplexity
from ptmlab.sampling import adjust_logits, next_token_distribution, sample
from ptmlab.train.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def fit(model, objective, blocks, **config):
    """A short Trainer run on the CPU, without evaluation or plots."""
    return Trainer(model, objective, blocks, TrainConfig(eval_every=0, **config), device="cpu", live_plot=False).fit()


def _ids(batch=8, seq=12, pad_from=None):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (batch, seq), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    ids[:, 5] = 3  # a sentence boundary inside the block
    if pad_from:
        ids[:, pad_from:] = 0
        ids[:, pad_from - 1] = 3
    return ids


def test_targets_are_the_next_tokens_and_nothing_is_corrupted():
    ids = _ids()
    c = CausalLM().corrupt(ids, torch.Generator().manual_seed(0))
    assert torch.equal(c.input_ids, ids)
    assert torch.equal(c.targets[:, :-1], ids[:, 1:])
    assert not c.loss_mask[:, -1].any()  # the last position has no next token
    assert c.loss_mask[:, :-1].all()  # every next token here is real (words and [SEP])
    # the record is aligned with the original tokens: every token but [CLS] is predicted, nothing is masked
    assert (c.record[:, 0] == Op.SPECIAL).all()
    assert (c.record[:, 1:] == Op.PREDICTED).all()
    assert not torch.isin(c.record, torch.tensor([Op.MASKED, Op.REPLACED, Op.UNCHANGED])).any()


def test_corruption_statistics_do_not_depend_on_the_seed():
    ids = _ids(batch=64, seq=32, pad_from=20)
    draws = [CausalLM().corrupt(ids, torch.Generator().manual_seed(s)) for s in range(5)]
    for c in draws[1:]:
        assert torch.equal(c.loss_mask, draws[0].loss_mask) and torch.equal(c.targets, draws[0].targets)
    # share of predicted positions = real tokens after the first, over positions: exactly (20 - 1) / 32 here
    assert draws[0].loss_mask.float().mean().item() == pytest.approx(19 / 32)


def test_padding_and_cls_are_never_targets():
    ids = _ids(pad_from=9)
    c = CausalLM().corrupt(ids, torch.Generator())
    predicted_tokens = c.targets[c.loss_mask]
    assert not torch.isin(predicted_tokens, torch.tensor([0, 2, 4])).any()
    assert not c.loss_mask[:, 8:].any()  # position 8 would predict padding
    assert (c.record[ids == 0] == Op.SPECIAL).all()
    assert torch.equal(c.attention_mask, (ids != 0).long())


class _FixedLogits(torch.nn.Module):
    """A fake model returning given logits, to compare the loss with a hand computation."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, input_ids, attention_mask=None, **_):
        from ptmlab.models.transformer import EncoderOutput

        return EncoderOutput(self.logits, (self.logits,), None, {"logits": self.logits + self.dummy})


def test_loss_equals_a_hand_computed_value():
    # sequence [CLS] a b [SEP] with vocab 6: positions 0, 1, 2 predict a (5), b (5), [SEP] (3)
    ids = torch.tensor([[2, 5, 5, 3]])
    logits = torch.zeros(1, 4, 6)
    logits[0, 0, 5] = math.log(3.0)  # p(a) = 3 / (5 + 3) = 3/8
    logits[0, 1, 5] = math.log(7.0)  # p(b) = 7 / 12
    # position 2: uniform, p([SEP]) = 1/6; position 3 is not scored
    expected = -(math.log(3 / 8) + math.log(7 / 12) + math.log(1 / 6)) / 3
    out = CausalLM().loss(_FixedLogits(logits), CausalLM().corrupt(ids))
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)
    assert out.metrics["perplexity"] == pytest.approx(math.exp(expected), rel=1e-6)
    assert out.metrics["n_predicted"] == 3


def test_causal_model_does_not_see_the_future(tiny_config):
    model = CausalLM().build_model(tiny_config).eval()
    assert model.config.causal
    ids = torch.randint(5, 60, (1, 10))
    changed = ids.clone()
    changed[0, 6:] = torch.randint(5, 60, (4,))
    a, b = model(ids).extras["logits"], model(changed).extras["logits"]
    assert torch.allclose(a[0, :6], b[0, :6], atol=1e-5)  # positions before the change are untouched
    assert not torch.allclose(a[0, 6:], b[0, 6:])
    attn = model.body(ids, output_attentions=True).attentions
    assert all(torch.all(layer[0].triu(diagonal=1) == 0) for layer in attn)  # upper triangle empty


def test_a_few_steps_lower_the_loss_and_perplexity(tiny_config, tiny_blocks):
    torch.manual_seed(0)
    objective = CausalLM()
    model = objective.build_model(tiny_config)
    before = perplexity(model, tiny_blocks)
    result = fit(model, objective, tiny_blocks, steps=60, batch_size=16, lr=3e-3, warmup=5)
    first = sum(r["loss"] for r in result.history[:5]) / 5
    last = sum(r["loss"] for r in result.history[-5:]) / 5
    assert last < first - 0.5
    after = perplexity(model, tiny_blocks)
    assert after < before / 2
    assert before < 2 * tiny_config.vocab_size  # an untrained model is near uniform


def test_perplexity_refuses_bidirectional_models_and_bad_blocks(tiny_config, tiny_blocks):
    with pytest.raises(InputError, match="left-to-right"):
        perplexity(MaskedLanguageModel(tiny_config), tiny_blocks)
    with pytest.raises(InputError, match="blocks"):
        perplexity(CausalLanguageModel(tiny_config), torch.zeros(0, 5, dtype=torch.long))


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    ids = torch.tensor([[2, 5, 6, 7, 3]])

    class Uniform(_FixedLogits):
        config = type("C", (), {"causal": True})()

    assert perplexity(Uniform(torch.zeros(1, 5, 9)), ids) == pytest.approx(9.0)


# ----------------------------------------------------------------------------- sampling
class _ToyTokenizer:
    """Words w0..w54 after the five special tokens; enough of the Tokenizer interface for sampling."""

    pad_id, unk_id, cls_id, sep_id, mask_id = 0, 1, 2, 3, 4
    special_ids = [0, 1, 2, 3, 4]

    def encode(self, text, add_special_tokens=True):
        ids = [int(w[1:]) + 5 if w.startswith("w") and w[1:].isdigit() else 1 for w in text.split()]
        return [2, *ids, 3] if add_special_tokens else ids

    def id_to_token(self, i):
        return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"][i] if i < 5 else f"w{i - 5}"

    def convert_ids_to_tokens(self, ids):
        return [self.id_to_token(i) for i in ids]

    def decode(self, ids):
        return " ".join(self.convert_ids_to_tokens(ids))


@pytest.fixture(scope="module")
def counting_model():
    """A causal LM trained on 'w_k w_k+1 w_k+2 ...': after w_k the next token is w_k+1."""
    from ptmlab.models.transformer import TransformerConfig

    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=60, max_len=16, d_model=32, n_layers=2, n_heads=4, dropout=0.0)
    g = torch.Generator().manual_seed(0)
    start = torch.randint(5, 40, (128, 1), generator=g)
    blocks = torch.cat([torch.full((128, 1), 2), (start + torch.arange(14)) % 55 + 5, torch.full((128, 1), 3)], 1)
    objective = CausalLM()
    model = objective.build_model(config)
    fit(model, objective, blocks, steps=150, batch_size=32, lr=3e-3, warmup=10)
    return model.eval()


def test_greedy_sampling_continues_the_pattern(counting_model):
    out = sample(counting_model, _ToyTokenizer(), "w10 w11 w12", max_new_tokens=4, temperature=0)
    assert out.tokens == ["w13", "w14", "w15", "w16"]
    assert out.stopped == "length" and len(out.probabilities) == 4
    again = sample(counting_model, _ToyTokenizer(), "w10 w11 w12", max_new_tokens=4, temperature=0, seed=7)
    assert again.tokens == out.tokens  # greedy ignores the seed


def test_temperature_and_top_k_shape_the_distribution(counting_model):
    tok = _ToyTokenizer()
    cold = next_token_distribution(counting_model, tok, "w10 w11 w12", temperature=0.3)
    hot = next_token_distribution(counting_model, tok, "w10 w11 w12", temperature=3.0)
    assert cold[0][0] == "w13" and cold[0][1] > hot[0][1]  # lower temperature, sharper distribution
    top2 = next_token_distribution(counting_model, tok, "w10 w11 w12", temperature=3.0, top_k=2)
    assert sum(p for _, p in top2[:2]) == pytest.approx(1.0, abs=1e-5) and top2[2][1] == 0
    assert not any(t in ("[PAD]", "[CLS]", "[MASK]", "[UNK]") for t, p in hot if p > 0)
    # sampled text is reproducible by seed and varies across seeds at a high temperature
    a = sample(counting_model, tok, "w10", max_new_tokens=6, temperature=5.0, seed=1)
    b = sample(counting_model, tok, "w10", max_new_tokens=6, temperature=5.0, seed=1)
    texts = {
        tuple(sample(counting_model, tok, "w10", max_new_tokens=6, temperature=5.0, seed=s).tokens) for s in range(4)
    }
    assert a.tokens == b.tokens and len(texts) > 1


def test_adjust_logits():
    logits = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert torch.allclose(adjust_logits(logits, 2.0), logits / 2)
    kept = adjust_logits(logits, 1.0, top_k=2)
    assert torch.isinf(kept[:2]).all() and torch.equal(kept[2:], logits[2:])
    assert torch.allclose(F.softmax(adjust_logits(logits, 1e-3), -1), torch.tensor([0.0, 0.0, 0.0, 1.0]))


def test_sampling_errors_are_clear(counting_model, tiny_config):
    tok = _ToyTokenizer()
    for prompt in ("", "   ", None):
        with pytest.raises(InputError, match="empty"):
            sample(counting_model, tok, prompt)
    with pytest.raises(InputError, match="unknown"):
        sample(counting_model, tok, "hello there")
    with pytest.raises(InputError, match="temperature"):
        sample(counting_model, tok, "w10", temperature=-1)
    with pytest.raises(InputError, match="top_k"):
        sample(counting_model, tok, "w10", top_k=0)
    with pytest.raises(InputError, match="max_new_tokens"):
        sample(counting_model, tok, "w10", max_new_tokens=0)
    with pytest.raises(InputError, match="left-to-right"):
        sample(MaskedLanguageModel(tiny_config), tok, "w10")


def test_long_prompts_slide_the_context(counting_model):
    prompt = " ".join(f"w{i}" for i in range(30))  # longer than max_len=16
    out = sample(counting_model, _ToyTokenizer(), prompt, max_new_tokens=3, temperature=0)
    assert len(out.tokens) == 3


# ----------------------------------------------------------------------------- exercises and widgets
def _solution(exercise):
    namespace = {"torch": torch, "F": F}
    exec(exercise.solution_code, namespace)
    return next(v for k, v in namespace.items() if callable(v) and k not in ("torch", "F"))


def test_exercise_solutions_pass_and_typical_mistakes_fail():
    from ptmlab.exercises.lm import NextTokenLoss, ScalarMixByHand, TemperatureTopK

    for exercise in (NextTokenLoss(), TemperatureTopK(), ScalarMixByHand()):
        assert exercise.check(_solution(exercise)), exercise.title
    unshifted = lambda logits, ids, pad_id=0: F.cross_entropy(  # noqa: E731
        logits.reshape(-1, logits.shape[-1]), ids.reshape(-1), ignore_index=pad_id
    )
    assert not NextTokenLoss().check(unshifted)
    no_temperature = lambda logits, temperature=1.0, top_k=None, generator=None: int(  # noqa: E731
        torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
    )
    assert not TemperatureTopK().check(no_temperature)
    plain_mean = lambda layers, w, gamma: layers.mean(0)  # noqa: E731
    assert not ScalarMixByHand().check(plain_mean)


def test_widget_figures_and_html():
    from ptmlab.viz.lm import layer_weights_figure, next_token_figure, tagged_html

    figure = next_token_figure([("city", 0.5), ("town", 0.2)])
    assert list(figure.data[0].y) == ["town", "city"]  # most likely on top
    weights = layer_weights_figure({"a": [0.2, 0.3, 0.5], "b": [0.6, 0.2, 0.2]})
    assert len(weights.data) == 2 and list(weights.data[0].x) == ["embeddings", "layer 1", "layer 2"]
    html = tagged_html(["otto", "black", "##wood"], ["B-PER", "I-PER", "O"], gold=["B-PER", "I-PER", "I-PER"])
    assert html.count("line-through") == 1 and "gold I-PER" in html


def test_sampling_app_runs_headless_and_reports_errors(counting_model):
    from ptmlab.widgets.lm import SamplingApp

    app = SamplingApp(counting_model, _ToyTokenizer(), prompt="w10 w11", temperature=0.0, max_new_tokens=3)
    assert app.samples.value and "w12" in app.samples.value and list(app.figure.data[0].y)[-1] == "w12"
    app.prompt.value = "   "  # an empty prompt: a message, no exception
    assert "empty" in app.message.value
