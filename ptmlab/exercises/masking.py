"""Exercises for chapter 05: BERT's 80/10/10 replacement, SpanBERT's geometric span lengths, whole-word groups.

Devlin et al. 2019 (BERT), Joshi et al. 2020 (SpanBERT), Cui et al. 2019 (whole-word masking). Random answers are
checked by their statistics within a tolerance; deterministic ones on fixed examples."""

from __future__ import annotations

from ptmlab.exercises.base import Exercise


class EightyTenTen(Exercise):
    title = "Exercise 5.1: BERT's 80/10/10"
    function_name = "apply_80_10_10"
    task = (
        "Write `apply_80_10_10(ids, chosen, vocab_size, mask_id=4, n_special=5, generator=None)`: `ids` is a "
        "LongTensor [batch, seq], `chosen` a bool tensor of the positions to predict. Return new ids where each "
        "chosen token becomes mask_id with probability 0.8, a random token from n_special..vocab_size-1 with "
        "probability 0.1, and stays as it is otherwise. Tokens not chosen never change."
    )
    hints = (
        "Draw one uniform number per position: u = torch.rand(ids.shape, generator=generator).",
        "u < 0.8 -> [MASK]; 0.8 <= u < 0.9 -> random; u >= 0.9 -> unchanged. Combine each with `chosen` using &.",
        "torch.randint(n_special, vocab_size, ids.shape, generator=generator) gives the random tokens; "
        "torch.where(condition, a, b) picks between tensors.",
    )
    solution_code = """def apply_80_10_10(ids, chosen, vocab_size, mask_id=4, n_special=5, generator=None):
    u = torch.rand(ids.shape, generator=generator)
    to_mask = chosen & (u < 0.8)
    to_random = chosen & (u >= 0.8) & (u < 0.9)
    random_tokens = torch.randint(n_special, vocab_size, ids.shape, generator=generator)
    out = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    return torch.where(to_random, random_tokens, out)"""

    def test(self, answer) -> None:
        import torch

        g = torch.Generator().manual_seed(0)
        vocab = 5000
        ids = torch.randint(5, vocab, (128, 128), generator=g)
        chosen = torch.rand(ids.shape, generator=g) < 0.5
        out = answer(ids.clone(), chosen.clone(), vocab)
        self.expect(isinstance(out, torch.Tensor) and out.shape == ids.shape, "return a tensor shaped like ids.")
        self.expect(bool((out[~chosen] == ids[~chosen]).all()), "a token that was not chosen changed: leave it.")
        picked, before = out[chosen], ids[chosen]
        n = picked.numel()
        masked = (picked == 4).float().sum().item() / n
        kept = (picked == before).float().sum().item() / n
        random_share = ((picked != 4) & (picked != before)).float().sum().item() / n
        self.expect_close(masked, 0.8, 0.02, "the share of chosen tokens turned into [MASK]")
        self.expect_close(kept, 0.1, 0.02, "the share of chosen tokens left unchanged")
        self.expect_close(random_share, 0.1, 0.02, "the share of chosen tokens replaced by a random token")
        others = picked[(picked != 4) & (picked != before)]
        self.expect(bool((others >= 5).all()), "a random replacement was a special token: draw from 5..vocab_size-1.")
        self.expect(others.unique().numel() > 100, "random replacements should be spread over the vocabulary.")


class GeometricSpanLengths(Exercise):
    title = "Exercise 5.2: SpanBERT's span lengths"
    function_name = "sample_span_lengths"
    task = (
        "Write `sample_span_lengths(n, p=0.2, max_len=10, generator=None)` returning a LongTensor of n span "
        "lengths drawn from a geometric distribution P(l) ∝ p (1-p)^(l-1) on l = 1..max_len (renormalised, as in "
        "SpanBERT's code; the mean is 3.8 for p = 0.2)."
    )
    hints = (
        "Build the ten probabilities with torch.arange(1, max_len + 1) and divide by their sum.",
        "torch.multinomial(probs, n, replacement=True, generator=generator) draws indices 0..max_len-1: add 1.",
    )
    solution_code = """def sample_span_lengths(n, p=0.2, max_len=10, generator=None):
    lengths = torch.arange(1, max_len + 1, dtype=torch.float64)
    probs = p * (1 - p) ** (lengths - 1)
    probs = probs / probs.sum()
    return torch.multinomial(probs, n, replacement=True, generator=generator) + 1"""

    def test(self, answer) -> None:
        import torch

        n = 40_000
        lengths = answer(n, 0.2, 10, torch.Generator().manual_seed(0))
        self.expect(isinstance(lengths, torch.Tensor) and lengths.numel() == n, f"return a tensor of {n} lengths.")
        lengths = lengths.long().flatten()
        self.expect(int(lengths.min()) >= 1 and int(lengths.max()) <= 10, "every length must lie in 1..10.")
        weights = 0.2 * 0.8 ** torch.arange(10, dtype=torch.float64)
        target = weights / weights.sum()
        observed = torch.bincount(lengths - 1, minlength=10).double() / n
        self.expect_close(
            float(lengths.double().mean()), float((target * torch.arange(1, 11)).sum()), 0.06, "the mean span length"
        )
        distance = 0.5 * float((observed - target).abs().sum())
        self.expect(
            distance < 0.02,
            f"the length histogram is {distance:.3f} (total variation) from the geometric "
            "one: check the probabilities and the +1 shift.",
        )
        lengths_again = answer(n, 0.5, 4, torch.Generator().manual_seed(1)).long().flatten()
        self.expect(int(lengths_again.max()) <= 4, "use the max_len argument.")
        self.expect_close(
            float((lengths_again == 1).double().mean()),
            0.5 / (1 - 0.5**4),
            0.02,
            "P(length 1) for p = 0.5, max_len = 4",
        )


class WholeWordGroups(Exercise):
    title = "Exercise 5.3: which pieces form a word?"
    function_name = "word_ids"
    task = (
        "Write `word_ids(tokens)` for a list of WordPiece tokens: return, for each token, the index of the word it "
        "belongs to (0, 1, 2, ...), and -1 for special tokens ([CLS], [SEP], [PAD], [MASK], [UNK]). A piece "
        "starting with '##' continues the word before it. Whole-word masking masks all tokens of one word id."
    )
    hints = (
        "Walk through the tokens keeping a counter; start a new word unless the token starts with '##'.",
        "A '##' piece right after a special token has no word to continue: start a new word there.",
    )
    solution_code = """def word_ids(tokens):
    specials = {"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"}
    out, word = [], -1
    for token in tokens:
        if token in specials:
            out.append(-1)
            continue
        if not token.startswith("##") or not out or out[-1] == -1:
            word += 1
        out.append(word)
    return out"""

    CASES = (
        (["[CLS]", "un", "##believ", "##able", "story", "[SEP]"], [-1, 0, 0, 0, 1, -1]),
        (["[CLS]", "o", "##t", "##to", "black", "##wood", "is", "a", "vet", "[SEP]"], [-1, 0, 0, 0, 1, 1, 2, 3, 4, -1]),
        (["[CLS]", "##ing", "word", "[SEP]", "##s", "x", "[PAD]"], [-1, 0, 1, -1, 2, 3, -1]),
        (["hello"], [0]),
    )

    def test(self, answer) -> None:
        for tokens, expected in self.CASES:
            got = answer(list(tokens))
            self.expect(
                isinstance(got, (list, tuple)) and len(got) == len(tokens), f"return one id per token for {tokens}."
            )
            self.expect(list(got) == expected, f"for {tokens} expected {expected}, got {list(got)}.")
