"""Denoising autoencoding: corrupt a document with a noising function; the decoder rewrites the original (survey 3.1.4).

Lewis et al. 2020, BART, Section 2.2: token masking, token deletion, text infilling (Poisson(3) span lengths, ONE [MASK]
per span, 0-length spans insert a [MASK]), sentence permutation and document rotation; plus T5's deshuffling (Raffel et
al. 2020), the token-level shuffle that collapses downstream."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ptmlab.errors import InputError
from ptmlab.objectives.base import Corruption, Op
from ptmlab.objectives.seq2seq import CLS_ID, MASK_ID, PAD_ID, SEP_ID, SPECIAL_IDS, Seq2SeqObjective, pad_rows

NOISINGS: dict[str, str] = {
    "token_masking": "random tokens become [MASK] (as in BERT)",
    "token_deletion": "random tokens are deleted: the model must also find where",
    "text_infilling": "spans with Poisson(3) lengths become ONE [MASK] each (a 0-length span inserts a [MASK])",
    "sentence_permutation": "the sentences (split at [SEP]) are shuffled",
    "document_rotation": "the document is rotated to start at a random token: the model must find the true start",
    "token_shuffling": "T5's deshuffling: every token is shuffled; the model must put them back in order",
}
NOISING_PAPERS = {
    "token_masking": "BART",
    "token_deletion": "BART",
    "text_infilling": "BART",
    "sentence_permutation": "BART",
    "document_rotation": "BART",
    "token_shuffling": "T5",
}
CHANGED = (Op.MASKED, Op.DELETED, Op.PERMUTED, Op.ROTATED, Op.REPLACED)

Item = list  # [token id, original position or -1 for a [MASK] that stands for a span or was inserted]


class DenoisingAutoencoder(Seq2SeqObjective):
    """BART's denoising objective with one noising, or several applied in order (BART's final model:
    ("sentence_permutation", "text_infilling")).

    The encoder reads the noised document; the decoder reconstructs the whole original, starting from [CLS]; the first
    [PAD] after the text is the end-of-text target. The Corruption record (aligned with the ORIGINAL tokens) shows each
    op; extra holds "source_index" (for each encoder token, the original position it came from, -1 for a [MASK] that
    replaced a span or was inserted), "insertions" (how many 0-length [MASK]s went in before each original token),
    "target_noised" (decoder targets whose token was noised) and "rotation" (the original position the rotated document
    starts at, -1 if not rotated)."""

    section = "3.1.4"
    paper = "Lewis et al. 2020, BART"

    def __init__(
        self,
        noising: str | Sequence[str] = "text_infilling",
        *,
        mask_ratio: float = 0.3,
        poisson_lambda: float = 3.0,
        mask_id: int = MASK_ID,
        cls_id: int = CLS_ID,
        sep_id: int = SEP_ID,
        pad_id: int = PAD_ID,
        special_ids: tuple[int, ...] = SPECIAL_IDS,
    ):
        noisings = (noising,) if isinstance(noising, str) else tuple(noising)
        unknown = [n for n in noisings if n not in NOISINGS]
        if unknown or not noisings:
            raise InputError(
                f"Unknown noising {unknown[0] if unknown else noising!r}.", fix=f"Use one of {list(NOISINGS)}."
            )
        if not 0 < mask_ratio < 1:
            raise InputError(f"mask_ratio={mask_ratio} must be in (0, 1).", fix="BART masks 30% (0.3).")
        if poisson_lambda <= 0:
            raise InputError(f"poisson_lambda={poisson_lambda} must be positive.", fix="BART uses 3.")
        self.noisings = noisings
        self.mask_ratio, self.poisson_lambda = mask_ratio, poisson_lambda
        self.mask_id, self.cls_id, self.sep_id, self.pad_id = mask_id, cls_id, sep_id, pad_id
        self.special_ids = tuple(special_ids)
        self._special = set(self.special_ids)
        self.name = "dae:" + "+".join(noisings)
        self.idea = "; then ".join(NOISINGS[n] for n in noisings) + "; the decoder writes the original."

    # ------------------------------------------------------------------ corrupt
    def corrupt(self, token_ids, generator, attention_mask=None) -> Corruption:
        token_ids = token_ids.long().cpu()
        if token_ids.dim() != 2:
            raise InputError(
                f"Expected token ids shaped [batch, seq], got {tuple(token_ids.shape)}.", fix="Add a batch dim."
            )
        B, T = token_ids.shape
        lengths = (token_ids != self.pad_id).sum(1) if attention_mask is None else attention_mask.long().sum(1)
        record = torch.full_like(token_ids, int(Op.KEPT))
        record[torch.isin(token_ids, torch.tensor(self.special_ids))] = int(Op.SPECIAL)
        insertions = torch.zeros_like(token_ids)
        rotation = torch.full((B,), -1, dtype=torch.long)
        encoder_rows, source_rows = [], []
        for b in range(B):
            length = int(lengths[b])
            items: list[Item] = [[int(t), p] for p, t in enumerate(token_ids[b, :length].tolist())]
            for noising in self.noisings:
                items = getattr(self, f"_{noising}")(items, record[b], insertions[b], rotation, b, T, generator)
            encoder_rows.append([t for t, _ in items])
            source_rows.append([p for _, p in items])

        # The decoder rewrites the original: input [CLS] x1 ... x_{n-1}, target x1 ... x_n, then one [PAD] as "end".
        width = int(lengths.max()) if B else 1
        original = token_ids[:, :width]
        decoder_inputs = original[:, :-1] if width > 1 else original
        targets = original[:, 1:] if width > 1 else original
        loss_mask = targets != self.pad_id
        ends = lengths - 1  # index in `targets` of the first [PAD] after each row's text
        has_room = ends < targets.shape[1]
        loss_mask[torch.arange(B)[has_room], ends[has_room]] = True
        noised = torch.isin(record[:, 1:width], torch.tensor([int(op) for op in CHANGED]))
        encoder_ids = pad_rows(encoder_rows, self.pad_id)
        return Corruption(
            input_ids=encoder_ids,
            targets=targets,
            loss_mask=loss_mask,
            attention_mask=pad_rows([[1] * len(r) for r in encoder_rows], 0),
            record=record,
            original_ids=token_ids,
            decoder_input_ids=decoder_inputs,
            extra={
                "source_index": pad_rows(source_rows, -1),
                "insertions": insertions,
                "target_noised": noised if noised.shape == targets.shape else torch.zeros_like(loss_mask),
                "rotation": rotation,
            },
        )

    def _is_content(self, item: Item) -> bool:
        return item[1] >= 0 and item[0] not in self._special

    def _content_indices(self, items: list[Item]) -> list[int]:
        return [i for i, item in enumerate(items) if self._is_content(item)]

    # ------------------------------------------------------------------ the noisings (each: items -> items)
    def _token_masking(self, items, record, insertions, rotation, b, T, g):
        content = self._content_indices(items)
        chosen = torch.rand(len(content), generator=g) < self.mask_ratio
        for i, pick in zip(content, chosen.tolist()):
            if pick:
                record[items[i][1]] = int(Op.MASKED)
                items[i] = [self.mask_id, items[i][1]]
        return items

    def _token_deletion(self, items, record, insertions, rotation, b, T, g):
        content = self._content_indices(items)
        chosen = torch.rand(len(content), generator=g) < self.mask_ratio
        dropped = {i for i, pick in zip(content, chosen.tolist()) if pick}
        for i in dropped:
            record[items[i][1]] = int(Op.DELETED)
        return [item for i, item in enumerate(items) if i not in dropped]

    def span_lengths(self, n_to_mask: int, g: torch.Generator) -> list[int]:
        """Poisson(lambda) span lengths until they cover n_to_mask tokens; the last is cut so the total is exact
        (as fairseq's BART implementation does). Zero lengths stay in the list: they become insertions."""
        lengths: list[int] = []
        total = 0
        while total < n_to_mask:
            draw = torch.poisson(torch.full((max(4, n_to_mask),), self.poisson_lambda), generator=g).long().tolist()
            for length in draw:
                if total >= n_to_mask:
                    break
                length = min(length, n_to_mask - total)
                lengths.append(length)
                total += length
        return lengths

    def _text_infilling(self, items, record, insertions, rotation, b, T, g):
        content = set(self._content_indices(items))
        n_to_mask = round(len(content) * self.mask_ratio)
        if n_to_mask == 0:
            return items
        lengths = self.span_lengths(n_to_mask, g)
        taken = [False] * len(items)
        span_start: dict[int, int] = {}  # item index -> span length
        inserts_before: dict[int, int] = {}
        removed = 0
        for length in (x for x in lengths if x > 0):
            # a span lies inside one run of content tokens and neither overlaps nor touches another span (so each
            # run of hidden tokens is one span, and one [MASK])
            starts = [
                s
                for s in range(len(items) - length + 1)
                if all((s + k) in content and not taken[s + k] for k in range(length))
                and not (s > 0 and taken[s - 1])
                and not (s + length < len(items) and taken[s + length])
            ]
            if not starts:
                continue  # no room left (a very short text): this span is dropped
            s = starts[int(torch.randint(len(starts), (1,), generator=g))]
            span_start[s] = length
            for k in range(length):
                taken[s + k] = True
                record[items[s + k][1]] = int(Op.MASKED)
            removed += length - 1
        room = T - (len(items) - removed)  # 0-length spans add a token each: never grow past the block length
        for _ in (x for x in lengths if x == 0):
            free = [i for i in sorted(content) if not taken[i]]
            if room <= 0 or not free:
                break
            i = free[int(torch.randint(len(free), (1,), generator=g))]
            inserts_before[i] = inserts_before.get(i, 0) + 1
            insertions[items[i][1]] += 1
            room -= 1
        out: list[Item] = []
        i = 0
        while i < len(items):
            out.extend([self.mask_id, -1] for _ in range(inserts_before.get(i, 0)))
            if i in span_start:
                out.append([self.mask_id, -1])  # ONE [MASK] for the whole span: the model must infer its length
                i += span_start[i]
                continue
            out.append(items[i])
            i += 1
        return out

    def _sentence_permutation(self, items, record, insertions, rotation, b, T, g):
        head = 1 if items and items[0][0] == self.cls_id else 0
        sentences: list[list[Item]] = [[]]
        for item in items[head:]:
            sentences[-1].append(item)
            if item[0] == self.sep_id:
                sentences.append([])
        sentences = [s for s in sentences if s]
        order = torch.randperm(len(sentences), generator=g).tolist()
        for new, old in enumerate(order):
            if new != old:
                for item in sentences[old]:
                    if self._is_content(item):
                        record[item[1]] = int(Op.PERMUTED)
        return items[:head] + [item for old in order for item in sentences[old]]

    def _document_rotation(self, items, record, insertions, rotation, b, T, g):
        head = 1 if items and items[0][0] == self.cls_id else 0
        body = items[head:]
        content = [i for i, item in enumerate(body) if self._is_content(item)]
        if not content:
            return items
        r = content[int(torch.randint(len(content), (1,), generator=g))]  # a token chosen uniformly starts the document
        if r == 0:
            return items
        rotation[b] = body[r][1]
        for item in body:
            if self._is_content(item):
                record[item[1]] = int(Op.ROTATED)
        return items[:head] + body[r:] + body[:r]

    def _token_shuffling(self, items, record, insertions, rotation, b, T, g):
        content = self._content_indices(items)
        order = torch.randperm(len(content), generator=g).tolist()
        shuffled = [items[content[j]] for j in order]
        for slot, item in zip(content, shuffled):
            if item[1] != items[slot][1]:
                record[item[1]] = int(Op.PERMUTED)
        out = list(items)
        for slot, item in zip(content, shuffled):
            out[slot] = item
        return out
