"""Generating text from a causal language model: greedy decoding, temperature and top-k sampling.

Temperature rescales the logits before the softmax (Ackley et al. 1985; as used for GPT-2 by Radford et al. 2019);
top-k keeps only the k most likely tokens (Fan et al. 2018). Each step feeds the text so far and picks one next token."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ptmlab.errors import InputError


@dataclass
class Sample:
    prompt: str
    text: str  # the generated continuation only
    tokens: list[str] = field(default_factory=list)  # the generated tokens
    probabilities: list[float] = field(default_factory=list)  # the probability each chosen token had when drawn
    stopped: str = ""  # "sep" (the model ended the sentence) or "length"

    @property
    def full_text(self) -> str:
        return f"{self.prompt} {self.text}".strip()


def check_sampling_settings(temperature: float, top_k: int | None) -> None:
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise InputError(
            f"temperature={temperature!r}: it must be a number >= 0.",
            fix="Use 1.0 for the model's own distribution, lower (0.5) for safer text, 0 for greedy decoding.",
        )
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise InputError(f"top_k={top_k!r}: it must be a positive integer or None.", fix="Use e.g. top_k=40, or None.")


def adjust_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """Divide logits [..., vocab] by the temperature and set all but the top_k to -inf (temperature > 0)."""
    check_sampling_settings(temperature, top_k)
    if temperature == 0:
        raise InputError(
            "temperature=0 means greedy decoding: there is no distribution to adjust.",
            fix="Use a temperature > 0 here, or call sample(..., temperature=0) for greedy text.",
        )
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits


def _prompt_ids(tokenizer, prompt: str) -> list[int]:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("The prompt is empty.", fix="Start the text for the model, e.g. 'The city of'.")
    ids = tokenizer.encode(prompt, add_special_tokens=False)
    if not ids:
        raise InputError(f"The prompt {prompt!r} gives no tokens.", fix="Use words, not only spaces or symbols.")
    if all(i == tokenizer.unk_id for i in ids):
        raise InputError(
            f"Every token of {prompt[:60]!r} is unknown to this tokenizer.",
            fix="Use words from the training text (English, the synthetic world's names).",
        )
    return [tokenizer.cls_id, *ids]  # blocks in pre-training start with [CLS], so the model knows this context


def _check_causal(model) -> None:
    if not getattr(getattr(model, "config", None), "causal", False):
        raise InputError(
            "Sampling needs a left-to-right (causal) language model; this one sees both sides of every token.",
            fix="Use a CausalLanguageModel (ptmlab.objectives.lm.CausalLM().build_model(config)).",
        )


def _banned_ids(tokenizer) -> list[int]:
    """Never generate [PAD], [UNK], [CLS] or [MASK]; [SEP] ends the sentence."""
    return [i for i in tokenizer.special_ids if i != tokenizer.sep_id]


@torch.no_grad()
def next_token_distribution(
    model, tokenizer, prompt: str, temperature: float = 1.0, top_k: int | None = None, n: int = 10
) -> list[tuple[str, float]]:
    """The n most likely next tokens after `prompt` with their probabilities under this temperature and top-k."""
    _check_causal(model)
    check_sampling_settings(temperature, top_k)
    ids = _prompt_ids(tokenizer, prompt)[-model.config.max_len :]
    device = next(model.parameters()).device
    model.eval()
    logits = model(torch.tensor([ids], device=device)).extras["logits"][0, -1].float().cpu()
    logits[_banned_ids(tokenizer)] = float("-inf")
    if temperature == 0:  # greedy: all the probability on the best token
        probs = torch.zeros_like(logits)
        probs[logits.argmax()] = 1.0
    else:
        probs = adjust_logits(logits, temperature, top_k).softmax(-1)
    values, indices = probs.topk(min(n, len(probs)))
    return [(tokenizer.id_to_token(i), float(p)) for p, i in zip(values.tolist(), indices.tolist())]


@torch.no_grad()
def sample(
    model,
    tokenizer,
    prompt: str,
    *,
    max_new_tokens: int = 30,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
    stop_at_sep: bool = True,
) -> Sample:
    """Continue `prompt` one token at a time. temperature=0 is greedy decoding (always the most likely token);
    otherwise tokens are drawn from softmax(logits / temperature), restricted to the top_k when given.

    The context slides when it outgrows the model's max_len (the oldest tokens drop out)."""
    _check_causal(model)
    check_sampling_settings(temperature, top_k)
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise InputError(f"max_new_tokens={max_new_tokens!r}.", fix="Ask for at least one new token, e.g. 30.")
    ids = _prompt_ids(tokenizer, prompt)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    banned = _banned_ids(tokenizer)
    model.eval()
    new_ids, probabilities, stopped = [], [], "length"
    for _ in range(max_new_tokens):
        context = torch.tensor([ids[-model.config.max_len :]], device=device)
        logits = model(context).extras["logits"][0, -1].float().cpu()
        logits[banned] = float("-inf")
        if temperature == 0:
            choice = int(logits.argmax())
            probability = float(logits.softmax(-1)[choice])
        else:
            probs = adjust_logits(logits, temperature, top_k).softmax(-1)
            choice = int(torch.multinomial(probs, 1, generator=generator))
            probability = float(probs[choice])
        if stop_at_sep and choice == tokenizer.sep_id:
            stopped = "sep"
            break
        ids.append(choice)
        new_ids.append(choice)
        probabilities.append(probability)
    return Sample(prompt, tokenizer.decode(new_ids), tokenizer.convert_ids_to_tokens(new_ids), probabilities, stopped)
