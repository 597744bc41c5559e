"""Permutation explorer: choose or shuffle a factorization order and watch the content and query masks change.

The interactive face of XLNet's permuted LM (Yang et al. 2019, Section 2.3); with a trained two-stream model it also
shows what the query stream predicts for each predicted token under that order."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ptmlab.errors import PtmlabError
from ptmlab.viz.permutation import mask_heatmaps, order_html
from ptmlab.widgets.base import Widget, error_html


def parse_order(text: str, n: int) -> list[int]:
    """'2 0 3 1' or '2,0,3,1' -> [2, 0, 3, 1]; raises PtmlabError unless it is a permutation of 0..n-1."""
    from ptmlab.errors import InputError

    try:
        order = [int(part) for part in text.replace(",", " ").split()]
    except ValueError as err:
        raise InputError(f"{text!r} is not a list of positions.", fix="Type numbers separated by spaces.") from err
    if sorted(order) != list(range(n)):
        raise InputError(
            f"{order} is not an order of the {n} positions 0..{n - 1}.", fix="Use every position exactly once."
        )
    return order


class PermutationExplorer(Widget):
    """`PermutationExplorer(tokens).display()`; `.set_order(order)` / `.shuffle()` update it from code.

    Give `model` (a trained ptmlab.models.two_stream.TwoStreamLM) and `tokenizer` to see its top guesses for the
    predicted tokens, each read from the query stream under the chosen order."""

    def __init__(
        self,
        tokens: Sequence[str],
        n_predict: int = 2,
        order: Sequence[int] | None = None,
        model=None,
        tokenizer=None,
        seed: int = 0,
        top_k: int = 3,
    ):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.tokens = list(tokens)
        if len(self.tokens) < 2:
            raise PtmlabError("Give at least two tokens.", fix="Tokenize a sentence first.")
        self.model, self.tokenizer, self.top_k = model, tokenizer, top_k
        self._rng = random.Random(seed)
        n = len(self.tokens)
        self.order: list[int] = list(order) if order is not None else list(range(n))
        self.positions = w.HTML("positions: " + " ".join(f"<code>{i}:{t}</code>" for i, t in enumerate(self.tokens)))
        self.order_text = w.Text(
            value=" ".join(map(str, self.order)),
            description="Order",
            layout=w.Layout(width="60%"),
            continuous_update=False,
        )
        self.n_predict = w.IntSlider(value=min(n_predict, n), min=0, max=n, description="Predict last")
        self.shuffle_button = w.Button(description="Shuffle", icon="random", button_style="primary")
        self.left_button = w.Button(description="Left to right")
        self.right_button = w.Button(description="Right to left")
        self.message = w.HTML()
        self.order_view = w.HTML()
        self.guesses = w.HTML()
        self.figure = go.FigureWidget(mask_heatmaps(self.tokens, self.order, self.n_predict.value))
        self.order_text.observe(lambda change: self.update(), names="value")
        self.n_predict.observe(lambda change: self.update(), names="value")
        self.shuffle_button.on_click(lambda _: self.shuffle())
        self.left_button.on_click(lambda _: self.set_order(range(n)))
        self.right_button.on_click(lambda _: self.set_order(range(n - 1, -1, -1)))
        controls = w.HBox([self.order_text, self.shuffle_button, self.left_button, self.right_button])
        self.widget = w.VBox(
            [self.positions, controls, self.n_predict, self.message, self.order_view, self.guesses, self.figure]
        )
        self.update()

    def set_order(self, order: Sequence[int]) -> None:
        self.order_text.value = " ".join(str(int(p)) for p in order)  # triggers update() through observe
        self.update()

    def shuffle(self) -> list[int]:
        order = list(range(len(self.tokens)))
        while True:
            self._rng.shuffle(order)
            if order != self.order or len(order) < 2:
                break
        self.set_order(order)
        return order

    def update(self) -> None:
        try:
            order = parse_order(self.order_text.value, len(self.tokens))
        except PtmlabError as err:
            self.message.value = error_html(err)
            return
        self.message.value = ""
        self.order = order
        k = self.n_predict.value
        self.order_view.value = order_html(self.tokens, order, k)
        new = mask_heatmaps(self.tokens, order, k)
        with self.figure.batch_update():
            for trace, fresh in zip(self.figure.data, new.data):
                trace.z, trace.x, trace.y, trace.text = fresh.z, fresh.x, fresh.y, fresh.text
            self.figure.layout.title = new.layout.title
        self.guesses.value = self._guesses(order, k) if self.model is not None else ""

    def _guesses(self, order: list[int], k: int) -> str:
        """The model's top guesses for each predicted token, from the query stream under this order."""
        import html

        import torch

        from ptmlab.objectives.plm import masks_for_order

        if self.tokenizer is None or k == 0:
            return ""
        masks = masks_for_order(order, k)
        ids = torch.tensor([self.tokenizer.convert_tokens_to_ids(self.tokens)])
        device = next(self.model.parameters()).device
        self.model.eval()
        with torch.no_grad():
            out = self.model(
                ids.to(device),
                content_mask=masks.content[None].to(device),
                query_mask=masks.query[None].to(device),
                predict_positions=masks.predicted[None].to(device),
            )
        probs = out.extras["logits"].float().softmax(-1).cpu()
        rows = []
        for row, position in enumerate(masks.predicted.nonzero().flatten().tolist()):
            top = probs[row].topk(self.top_k)
            guesses = ", ".join(
                f"{html.escape(self.tokenizer.id_to_token(int(i)))} {float(p):.0%}"
                for p, i in zip(top.values, top.indices)
            )
            rows.append(f"<li><b>{html.escape(self.tokens[position])}</b> (position {position}): {guesses}</li>")
        return (
            "<div><small>the model's guesses (query stream)</small><ul style='margin:2px'>"
            + "".join(rows)
            + "</ul></div>"
        )
