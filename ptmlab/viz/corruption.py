"""The corruption view: a sentence's tokens coloured by what a pre-training objective did to each of them.

Draws an `Objective.corrupt` record (ptmlab.objectives.base.Op) as HTML, so MLM's 80/10/10, span masking or BART's
noisings can be seen before anything is trained (survey Section 3.1, Table 1)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ptmlab.objectives.base import Op

COLOURS = {  # colour-blind-friendly (Okabe-Ito) backgrounds
    Op.KEPT: ("#ffffff", "kept"),
    Op.MASKED: ("#e69f00", "masked → predicted"),
    Op.REPLACED: ("#d55e00", "replaced by a random token → predicted"),
    Op.UNCHANGED: ("#f0e442", "kept but predicted"),
    Op.DELETED: ("#999999", "deleted"),
    Op.PERMUTED: ("#56b4e9", "moved"),
    Op.ROTATED: ("#009e73", "rotated"),
    Op.INSERTED: ("#cc79a7", "inserted"),
    Op.SPECIAL: ("#eeeeee", "special token"),
    Op.PREDICTED: ("#0072b2", "predicted"),
}


def _chip(text: str, op: Op, title: str = "") -> str:
    background, _ = COLOURS[op]
    colour = "#fff" if op in (Op.REPLACED, Op.PREDICTED, Op.ROTATED) else "#222"
    strike = "text-decoration:line-through;" if op == Op.DELETED else ""
    return (f'<span title="{html.escape(title)}" style="background:{background};color:{colour};{strike}'
            f'border:1px solid #ccc;border-radius:4px;padding:1px 5px;margin:2px;display:inline-block;'
            f'font-family:monospace">{html.escape(text)}</span>')


def corruption_html(original: Sequence[str], corrupted: Sequence[str], record: Sequence[int], title: str = "") -> str:
    """Two aligned rows: the original tokens coloured by what happened, and what the model actually reads."""
    if not (len(original) == len(record)):
        raise ValueError("original tokens and record must have the same length")
    ops = [Op(int(r)) for r in record]
    top = "".join(_chip(t, op, COLOURS[op][1]) for t, op in zip(original, ops))
    bottom = "".join(_chip(t, Op.KEPT if t not in ("[MASK]",) else Op.MASKED) for t in corrupted)
    used = [op for op in dict.fromkeys(ops) if op not in (Op.KEPT,)]
    legend = " ".join(_chip(COLOURS[op][1], op) for op in used)
    heading = f"<div style='font-weight:600;margin:4px 0'>{html.escape(title)}</div>" if title else ""
    return (f"<div class='ptmlab-corruption'>{heading}"
            f"<div><small>original (coloured by what happened)</small><br>{top}</div>"
            f"<div style='margin-top:4px'><small>model input</small><br>{bottom}</div>"
            f"<div style='margin-top:4px'><small>{legend}</small></div></div>")


def show_corruption(objective, tokenizer, text: str, seed: int = 0, title: str | None = None):
    """Corrupt one sentence with `objective` and return an IPython HTML object of the view."""
    import torch
    from IPython.display import HTML

    from ptmlab.data.tokenizers import encode_for_model

    ids = torch.tensor([encode_for_model(tokenizer, text, max_len=10_000)])
    batch = objective.corrupt(ids, torch.Generator().manual_seed(seed))
    original = tokenizer.convert_ids_to_tokens(ids[0].tolist())
    corrupted = tokenizer.convert_ids_to_tokens(batch.input_ids[0].tolist())
    counted = batch.record[0][batch.record[0] != int(Op.SPECIAL)]
    rate = float(batch.loss_mask[0].sum() / max(1, counted.numel()))
    heading = title or f"{objective.name}: {rate:.0%} of tokens predicted (seed {seed})"
    return HTML(corruption_html(original, corrupted, batch.record[0].tolist(), heading))
