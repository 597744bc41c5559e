"""Exercises for chapter 03: what each contextual encoder can see (survey Section 2.2).

Checked by properties: the receptive field against gradients through a real stack of convolutions, parameter counts
against torch's own modules, attention weights by their defining properties."""

from __future__ import annotations

from ptmlab.exercises.base import Exercise


def empirical_receptive_field(kernel_sizes, dilations) -> int:
    """Count the input positions whose gradient reaches the centre output of real stacked Conv1d layers."""
    import torch

    length = 1 + 2 * sum((k - 1) * d for k, d in zip(kernel_sizes, dilations)) + 8
    x = torch.zeros(1, 1, length, requires_grad=True)
    h = x
    for k, d in zip(kernel_sizes, dilations):
        conv = torch.nn.Conv1d(1, 1, k, dilation=d, padding=d * (k - 1) // 2, bias=False)
        torch.nn.init.constant_(conv.weight, 1.0)
        h = conv(h)
    h[0, 0, length // 2].backward()
    return int((x.grad[0, 0] != 0).sum())


class ReceptiveField(Exercise):
    title = "Exercise 3.1: the receptive field of a CNN"
    task = (
        "Write `receptive_field(kernel_sizes, dilations)` that returns how many input tokens one output position "
        "of stacked stride-1 convolutions depends on. Example: three layers of kernel 3, dilation 1 -> 7."
    )
    hints = (
        "One token sees itself: start from 1.",
        "A layer with kernel k and dilation d adds (k - 1) * d positions to the window.",
    )
    solution_code = """def receptive_field(kernel_sizes, dilations):
    return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations))"""

    def test(self, answer) -> None:
        cases = [
            ([3], [1]),
            ([3, 3, 3], [1, 1, 1]),
            ([5, 5], [1, 1]),
            ([3, 3, 3, 3], [1, 2, 4, 8]),
            ([3, 5, 7], [2, 1, 3]),
            ([1, 1], [1, 1]),
        ]
        for kernels, dilations in cases:
            got = answer(list(kernels), list(dilations))
            want = empirical_receptive_field(kernels, dilations)
            self.expect(isinstance(got, int) or float(got).is_integer(), f"return a whole number, got {got!r}.")
            self.expect(
                int(got) == want,
                f"kernels {kernels}, dilations {dilations}: gradients through real "
                f"convolutions reach {want} input tokens, you said {got}.",
            )


class LSTMParameters(Exercise):
    title = "Exercise 3.2: how many parameters does a BiLSTM layer have?"
    task = (
        "Write `lstm_parameters(input_size, hidden_size, bidirectional=True)` returning the number of parameters "
        "of one torch nn.LSTM layer. Then you can size a BiLSTM to match a Transformer, as this chapter does."
    )
    hints = (
        "An LSTM has 4 gates (input, forget, cell, output); each has weights for the input and for the previous state.",
        "Per gate: input_size * hidden + hidden * hidden weights, and torch keeps two bias vectors (b_ih and b_hh).",
        "A bidirectional layer has two independent LSTMs, one per direction.",
    )
    solution_code = """def lstm_parameters(input_size, hidden_size, bidirectional=True):
    per_direction = 4 * (input_size * hidden_size + hidden_size * hidden_size + 2 * hidden_size)
    return per_direction * (2 if bidirectional else 1)"""

    def test(self, answer) -> None:
        import torch

        for input_size, hidden, bidirectional in [
            (8, 4, False),
            (8, 4, True),
            (64, 40, True),
            (33, 17, True),
            (100, 1, False),
        ]:
            lstm = torch.nn.LSTM(input_size, hidden, bidirectional=bidirectional)
            want = sum(p.numel() for p in lstm.parameters())
            got = answer(input_size, hidden, bidirectional)
            self.expect(
                got == want,
                f"nn.LSTM({input_size}, {hidden}, bidirectional={bidirectional}) has {want} "
                f"parameters; you said {got}.",
            )


class AttentionIsAGraph(Exercise):
    title = "Exercise 3.3: self-attention weights, the edges of a fully connected graph"
    task = (
        "Write `attention_weights(x, w_q, w_k)`: x is [T, d] token vectors, w_q and w_k are [d, d_head]. Return the "
        "[T, T] matrix softmax(Q K^T / sqrt(d_head)) with Q = x w_q and K = x w_k. Row i holds the weights of "
        "token i's edges to every token."
    )
    hints = (
        "q = x @ w_q and k = x @ w_k are both [T, d_head].",
        "scores = q @ k.T / d_head ** 0.5; then .softmax(dim=-1) so each row sums to 1.",
    )
    solution_code = """def attention_weights(x, w_q, w_k):
    q, k = x @ w_q, x @ w_k
    return (q @ k.T / k.shape[-1] ** 0.5).softmax(dim=-1)"""

    def test(self, answer) -> None:
        import torch

        g = torch.Generator().manual_seed(3)
        x, w_q, w_k = torch.randn(9, 16, generator=g), torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
        weights = torch.as_tensor(answer(x, w_q, w_k))
        self.expect(
            tuple(weights.shape) == (9, 9), f"expected a [9, 9] matrix for 9 tokens, got {tuple(weights.shape)}."
        )
        self.expect(
            bool(torch.allclose(weights.sum(-1), torch.ones(9), atol=1e-4)),
            "each row (one token's outgoing edges) must sum to 1: apply softmax over the last dimension.",
        )
        self.expect(bool((weights > 0).all()), "every weight must be positive: softmax connects every pair of tokens.")
        reference = ((x @ w_q) @ (x @ w_k).T / 8**0.5).softmax(-1)
        self.expect(
            bool(torch.allclose(weights, reference, atol=1e-4)),
            "rows sum to 1 but the weights differ from softmax(QK^T / sqrt(d_head)): check the scaling and "
            "that rows are queries (Q K^T, not K Q^T).",
        )
        permutation = torch.randperm(9, generator=g)
        moved = torch.as_tensor(answer(x[permutation], w_q, w_k))
        self.expect(
            bool(torch.allclose(moved, weights[permutation][:, permutation], atol=1e-4)),
            "shuffling the tokens should shuffle the graph the same way (no positions inside attention).",
        )


EXERCISES = (ReceptiveField, LSTMParameters, AttentionIsAGraph)
