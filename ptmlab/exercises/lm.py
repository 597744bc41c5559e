"""Exercises for chapter 04: the next-token loss, temperature / top-k sampling, and ELMo's scalar mix.

Radford et al. 2018 (GPT's objective), Fan et al. 2018 (top-k sampling), Peters et al. 2018 (ELMo, Eq. 1). Checked by
properties and by deterministic references, so any correct answer passes, random ones included."""

from __future__ import annotations

from ptmlab.exercises.base import Exercise


class NextTokenLoss(Exercise):
    title = "Exercise 4.1: the causal language-modelling loss"
    task = (
        "Write `lm_loss(logits, ids, pad_id=0)`: logits [batch, seq, vocab] come from a causal model reading ids "
        "[batch, seq]. Position t must predict token t + 1. Return the mean cross-entropy over every position whose "
        "next token is not padding (a scalar tensor)."
    )
    hints = (
        "Drop the last position of the logits and the first token of the ids: logits[:, :-1] pairs with ids[:, 1:].",
        "F.cross_entropy wants [n, vocab] and [n]: flatten with .reshape(-1, vocab) and .reshape(-1).",
        "ignore_index=pad_id (or a boolean mask) leaves the padded targets out of the mean.",
    )
    solution_code = """def lm_loss(logits, ids, pad_id=0):
    logits, targets = logits[:, :-1], ids[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=pad_id)"""

    def test(self, answer) -> None:
        import torch
        import torch.nn.functional as F

        g = torch.Generator().manual_seed(0)
        logits = torch.randn(3, 7, 11, generator=g)
        ids = torch.randint(5, 11, (3, 7), generator=g)
        ids[1, 5:] = 0  # padding at the end of one row
        result = answer(logits.clone(), ids.clone())
        self.expect(isinstance(result, torch.Tensor) and result.dim() == 0, "return a scalar tensor (a 0-d tensor).")
        shifted = F.cross_entropy(logits[:, :-1].reshape(-1, 11), ids[:, 1:].reshape(-1), ignore_index=0)
        unshifted = F.cross_entropy(logits.reshape(-1, 11), ids.reshape(-1), ignore_index=0)
        self.expect(
            not torch.isclose(result, unshifted, atol=1e-5),
            "position t scored token t itself: a causal LM predicts the NEXT token (shift by one).",
        )
        moved = logits.clone()
        moved[1, 4:] += 100 * torch.randn(3, 11, generator=g)  # positions whose next token is padding (or none)
        self.expect(
            torch.isclose(answer(moved, ids.clone()), result, atol=1e-5),
            "the loss changed when only positions that predict padding changed: leave padded targets out.",
        )
        self.expect_close(result.item(), shifted.item(), 1e-4, "your loss")


class TemperatureTopK(Exercise):
    title = "Exercise 4.2: sample the next token with a temperature and top-k"
    task = (
        "Write `sample_next(logits, temperature=1.0, top_k=None, generator=None)`: logits is a 1-D tensor over the "
        "vocabulary. Keep only the top_k largest logits (all when None), divide by the temperature, and draw one "
        "token id from the softmax. Return it as an int."
    )
    hints = (
        "logits.topk(k).values[-1] is the k-th largest logit: set every logit below it to float('-inf').",
        "torch.softmax(logits / temperature, dim=-1) gives the probabilities; -inf becomes probability 0.",
        "torch.multinomial(probs, 1, generator=generator) draws one index; int(...) turns it into a Python int.",
    )
    solution_code = """def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    logits = logits.float().clone()
    if top_k is not None:
        kth = logits.topk(top_k).values[-1]
        logits[logits < kth] = float("-inf")
    probs = torch.softmax(logits / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))"""

    def test(self, answer) -> None:
        import torch

        logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
        draws = 3000
        g = torch.Generator().manual_seed(0)
        sampled = [answer(logits.clone(), 1.0, 1, g) for _ in range(50)]
        self.expect(all(isinstance(s, int) for s in sampled), "return a Python int (use int(...)).")
        self.expect(set(sampled) == {0}, "with top_k=1 only the most likely token (id 0) may come out.")
        sampled = [answer(logits.clone(), 1.0, 3, g) for _ in range(600)]
        self.expect(
            set(sampled) <= {0, 1, 2}, f"with top_k=3 only ids 0, 1, 2 may come out; you drew {sorted(set(sampled))}."
        )
        for temperature in (0.5, 2.0):
            counts = torch.bincount(
                torch.tensor([answer(logits.clone(), temperature, None, g) for _ in range(draws)]), minlength=6
            ).float()
            target = torch.softmax(logits / temperature, -1)
            share = counts / draws
            self.expect(
                bool((share - target).abs().max() < 0.04),
                f"at temperature {temperature} token 0 came out {share[0]:.0%} of the time; softmax(logits / T) "
                f"gives it {target[0]:.0%}. Divide the logits by the temperature before the softmax.",
            )


class ScalarMixByHand(Exercise):
    title = "Exercise 4.3: ELMo's scalar mix"
    task = (
        "Write `scalar_mix(layers, w, gamma)`: layers is a tensor [n_layers, batch, seq, d] (every layer's states), w a "
        "tensor [n_layers] of raw weights and gamma a number. Return gamma * sum_j softmax(w)_j * layers[j], shaped "
        "[batch, seq, d] (Peters et al. 2018, Eq. 1)."
    )
    hints = (
        "s = torch.softmax(w, dim=0) gives weights that are positive and sum to one.",
        "s.view(-1, 1, 1, 1) * layers broadcasts one weight over each layer; .sum(dim=0) adds the layers up.",
    )
    solution_code = """def scalar_mix(layers, w, gamma):
    s = torch.softmax(w, dim=0)
    return gamma * (s.view(-1, 1, 1, 1) * layers).sum(dim=0)"""

    def test(self, answer) -> None:
        import torch

        g = torch.Generator().manual_seed(0)
        layers = torch.randn(3, 2, 4, 5, generator=g)
        w = torch.tensor([0.5, -1.0, 2.0])
        result = answer(layers.clone(), w.clone(), 1.5)
        self.expect(isinstance(result, torch.Tensor), "return a tensor.")
        self.expect(
            tuple(result.shape) == (2, 4, 5),
            f"the mix should be shaped [batch, seq, d] = (2, 4, 5), got {tuple(result.shape)}.",
        )
        equal = answer(layers.clone(), torch.zeros(3), 1.0)
        self.expect(
            torch.allclose(equal, layers.mean(0), atol=1e-5),
            "with w = 0 every layer should weigh 1/3: normalise the weights with a softmax.",
        )
        s = torch.softmax(w, 0)
        expected = 1.5 * (s[0] * layers[0] + s[1] * layers[1] + s[2] * layers[2])
        self.expect(
            torch.allclose(result, expected, atol=1e-5),
            "the mix differs from gamma * sum_j softmax(w)_j * layers[j]: did you multiply by gamma?",
        )
