"""Exercises for chapter 06: T5's sentinel targets, BART's text infilling and document rotation, written by hand.

Raffel et al. 2020 (T5 span corruption) and Lewis et al. 2020 (BART); checked by properties and small worked cases."""

from __future__ import annotations

from collections import Counter

from ptmlab.exercises.base import Exercise


class SentinelTargets(Exercise):
    title = "Exercise 6.1: T5 span corruption with sentinels"
    task = (
        "Write `sentinel_corrupt(tokens, noise, sentinels)`: tokens is a list of ids, noise a list of bools of the "
        "same length (True = hidden), sentinels a list of ids [<X0>, <X1>, ...]. Replace each run of hidden tokens "
        "by the next sentinel in the input; the target lists each sentinel followed by the tokens it hides. Return "
        "(inputs, targets) as lists (no end token)."
    )
    hints = (
        "Walk through the tokens once, remembering whether the previous token was hidden.",
        "A hidden token whose predecessor was not hidden starts a new span: append the next sentinel to BOTH lists.",
        "Hidden tokens go to the targets only; visible tokens to the inputs only.",
    )
    solution_code = """def sentinel_corrupt(tokens, noise, sentinels):
    inputs, targets, n, previous = [], [], 0, False
    for token, hidden in zip(tokens, noise):
        if hidden and not previous:
            inputs.append(sentinels[n])
            targets.append(sentinels[n])
            n += 1
        (targets if hidden else inputs).append(token)
        previous = hidden
    return inputs, targets"""

    def test(self, answer) -> None:
        sentinels = [100, 101, 102, 103]
        tokens = [10, 11, 12, 13, 14, 15, 16, 17]
        noise = [False, True, True, False, False, True, False, True]
        result = answer(tokens, noise, sentinels)
        self.expect(isinstance(result, tuple) and len(result) == 2, "return a pair (inputs, targets).")
        inputs, targets = (list(x) for x in result)
        self.expect(
            inputs == [10, 100, 13, 14, 101, 16, 102],
            f"for tokens {tokens} and noise {noise} the inputs should be [10, <X0>, 13, 14, <X1>, 16, <X2>] "
            f"= [10, 100, 13, 14, 101, 16, 102]; got {inputs}.",
        )
        self.expect(
            targets == [100, 11, 12, 101, 15, 102, 17],
            f"the targets should be [<X0>, 11, 12, <X1>, 15, <X2>, 17]; got {targets}.",
        )
        inputs, targets = (list(x) for x in answer(tokens, [False] * 8, sentinels))
        self.expect(
            inputs == tokens and targets == [], "with nothing hidden the input is unchanged and the target empty."
        )


class TextInfilling(Exercise):
    title = "Exercise 6.2: BART's text infilling"
    task = (
        "Write `infill(tokens, spans, mask_id=4)`: spans is a list of (start, length) pairs that do not overlap. "
        "Each span of length >= 1 is replaced by ONE mask_id; a span of length 0 inserts a mask_id before "
        "tokens[start]. Return the new list. (The model must then also guess how many tokens each [MASK] hides.)"
    )
    hints = (
        "Build a dict start -> length, then walk through the positions.",
        "At a start position: emit one mask_id; if the length is 0 also emit the token itself, else skip `length` tokens.",
    )
    solution_code = """def infill(tokens, spans, mask_id=4):
    starts = dict(spans)
    out, i = [], 0
    while i < len(tokens):
        if i in starts:
            out.append(mask_id)
            if starts[i] > 0:
                i += starts[i]
                continue
        out.append(tokens[i])
        i += 1
    return out"""

    def test(self, answer) -> None:
        tokens = [2, 10, 11, 12, 13, 14, 15, 3]
        got = list(answer(tokens, [(2, 3), (6, 1)], 4))
        self.expect(
            got == [2, 10, 4, 14, 4, 3], f"spans (2, 3) and (6, 1) should give [2, 10, 4, 14, 4, 3]; got {got}."
        )
        got = list(answer(tokens, [(1, 0)], 4))
        self.expect(
            got == [2, 4, 10, 11, 12, 13, 14, 15, 3],
            f"a 0-length span at 1 inserts a [MASK] before tokens[1] and removes nothing; got {got}.",
        )
        got = list(answer(tokens, [], 4))
        self.expect(got == tokens, "with no spans the tokens come back unchanged.")


class DocumentRotation(Exercise):
    title = "Exercise 6.3: document rotation"
    task = (
        "Write `rotate(tokens, generator)`: tokens starts with [CLS] (id 2). Choose one of the OTHER positions "
        "uniformly at random with torch.randint(..., generator=generator) and return [CLS] followed by the rest "
        "rotated so that it starts at the chosen token. The decoder's job is then to find the true start."
    )
    hints = (
        "body = tokens[1:]; r = int(torch.randint(len(body), (1,), generator=generator)).",
        "return [tokens[0]] + body[r:] + body[:r]",
    )
    solution_code = """def rotate(tokens, generator):
    body = tokens[1:]
    r = int(torch.randint(len(body), (1,), generator=generator))
    return [tokens[0]] + body[r:] + body[:r]"""

    def test(self, answer) -> None:
        import torch

        tokens = [2, 10, 11, 12, 13, 3]
        body = tokens[1:]
        rotations = [body[k:] + body[:k] for k in range(len(body))]
        generator = torch.Generator().manual_seed(0)
        starts = Counter()
        for _ in range(500):
            out = list(answer(list(tokens), generator))
            self.expect(out[0] == 2, "[CLS] must stay first.")
            self.expect(out[1:] in rotations, f"{out} is not [CLS] + a rotation of {body}.")
            starts[out[1]] += 1
        self.expect(
            len(starts) == len(body), f"every token should sometimes start the document; starts seen: {dict(starts)}."
        )
        self.expect(
            max(starts.values()) < 2 * min(starts.values()), f"the start should be uniform; counts {dict(starts)}."
        )
