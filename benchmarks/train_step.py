"""Benchmark: ptmlab's MLM training step vs Hugging Face BertForMaskedLM of the same size, in one process.

Both models see the same batches and the same 15% masks; rounds alternate (ptmlab, HF, ptmlab, ...) so machine noise hits
both alike. Prints tokens/s of each, their ratio and the peak RSS. Usage: python benchmarks/train_step.py [--rounds 5]"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from ptmlab.models.transformer import TransformerConfig
from ptmlab.objectives.mlm import MaskedLM

SIZES = dict(vocab=8000, layers=4, d=256, heads=4, ff=1024, seq=128, batch=32)


def ptmlab_step_fn(objective: MaskedLM):
    config = TransformerConfig(vocab_size=SIZES["vocab"], max_len=SIZES["seq"], d_model=SIZES["d"],
                               n_layers=SIZES["layers"], n_heads=SIZES["heads"], d_ff=SIZES["ff"], dropout=0.1)
    model = objective.build_model(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(batch):
        loss = objective.loss(model, batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step, sum(p.numel() for p in model.parameters())


def hf_step_fn():
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=SIZES["vocab"], hidden_size=SIZES["d"], num_hidden_layers=SIZES["layers"],
                        num_attention_heads=SIZES["heads"], intermediate_size=SIZES["ff"],
                        max_position_embeddings=SIZES["seq"], hidden_dropout_prob=0.1,
                        attention_probs_dropout_prob=0.1)
    model = BertForMaskedLM(config).train()  # transformers' default attention (SDPA) is its fastest path
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(batch):
        labels = torch.where(batch.loss_mask, batch.targets, torch.full_like(batch.targets, -100))
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=labels)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        return out.loss.item()

    return step, sum(p.numel() for p in model.parameters())


def timed(step, batches) -> float:
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4, help="steps per round and model")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    objective = MaskedLM(SIZES["vocab"])
    generator = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(args.steps):
        ids = torch.randint(5, SIZES["vocab"], (SIZES["batch"], SIZES["seq"]), generator=generator)
        ids[:, 0], ids[:, -1] = 2, 3
        batches.append(objective.corrupt(ids, generator))
    ours, our_params = ptmlab_step_fn(objective)
    theirs, their_params = hf_step_fn()
    for fn in (ours, theirs):  # warm-up: first steps allocate
        fn(batches[0])
    tokens = SIZES["batch"] * SIZES["seq"] * args.steps
    ptm, hf = [], []
    for _ in range(args.rounds):
        ptm.append(tokens / timed(ours, batches))
        hf.append(tokens / timed(theirs, batches))
    ratios = [a / b for a, b in zip(ptm, hf)]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sizes: {SIZES}; threads {torch.get_num_threads()}; torch {torch.__version__}")
    print(f"parameters: ptmlab {our_params:,}  HF {their_params:,}")
    print(f"ptmlab MLM step: {statistics.median(ptm):,.0f} tokens/s (rounds: {', '.join(f'{x:,.0f}' for x in ptm)})")
    print(f"HF BertForMaskedLM: {statistics.median(hf):,.0f} tokens/s (rounds: {', '.join(f'{x:,.0f}' for x in hf)})")
    print(f"ratio ptmlab / HF: median {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f});"
          f" target >= 1.5x")
    print(f"peak RSS of the process (both models): {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
