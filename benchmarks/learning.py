"""Benchmark: does chapter 00's MLM learn in its budget? Recipes measured against counting the neighbours.

Each variant trains the tour's MLM (ptmlab.chapters.roadmap.train_mlm, no cache) on the bundled Wikipedia extract and
prints its accuracy on held-out [MASK] positions beside the two baselines scored on the same masks: the most frequent
token and NeighbourCounts (smoothed bigram counts of the left and right neighbour). Run variants one at a time on an
idle machine when you quote minutes.

    python benchmarks/learning.py --list
    python benchmarks/learning.py today tuned            # named variants, one after the other
    python benchmarks/learning.py tuned --set steps=1200 --set lr=3e-3 --seeds 0 1 2
    python benchmarks/learning.py --threads-only         # tokens/s with 1 and with every core, idle and beside a busy process
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import multiprocessing
import os
import sys
import time

import torch

from ptmlab import runtime
from ptmlab.chapters.roadmap import MLM_PRESETS, train_mlm
from ptmlab.data.corpora import load_corpus

# Overrides on the cpu preset. "before" is the recipe as it was (issue 11's measurements); the others are what we tried.
VARIANTS: dict[str, dict] = {
    "before": dict(unigram_bias=False, betas=(0.9, 0.999), mask_prob=0.15, lr=1e-3, steps=2400, batch_size=16,
                   alibi=False),
    "cpu": {},  # the cpu preset as it stands in MLM_PRESETS
    "bias": dict(alibi=False, unigram_bias=True, betas=(0.9, 0.999), mask_prob=0.15, lr=1e-3),
    "fast": dict(alibi=False, unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.4, lr=2e-3),
    "emb": dict(alibi=False, unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.15, lr=2e-3, embed_std=0.1),
    "emb_m40": dict(alibi=False, unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.4, lr=2e-3, embed_std=0.1),
    "emb_nobias": dict(alibi=False, unigram_bias=False, betas=(0.9, 0.98), mask_prob=0.15, lr=2e-3, embed_std=0.1),
    "alibi": dict(unigram_bias=False, betas=(0.9, 0.98), mask_prob=0.15, lr=2e-3, alibi=True),
    "alibi_bias": dict(unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.15, lr=2e-3, alibi=True),
    "a2_lr3": dict(unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.15, lr=3e-3, alibi=True, steps=3000),
    "b": dict(unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.15, lr=2e-3, alibi=True, steps=3000),
    "b_m25": dict(unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.25, lr=2e-3, alibi=True, steps=3000),
    "b_lr1": dict(unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.15, lr=1e-3, alibi=True, steps=3000),
    "b_h8": dict(unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.15, lr=2e-3, alibi=True, steps=3000, n_heads=8),
    "b_l1": dict(unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.15, lr=2e-3, alibi=True, steps=5000, n_layers=1),
    "b_v2k": dict(unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.15, lr=2e-3, alibi=True, steps=3000,
                  vocab_size=2000),
    "c_m40": dict(unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.4, lr=2e-3, alibi=True, steps=3400),
    "c_m30": dict(unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.3, lr=2e-3, alibi=True, steps=3400),
    "fast_lr3": dict(alibi=False, unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.4, lr=3e-3),
    "fast_m25": dict(alibi=False, unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.25, lr=2e-3),
    "fast_m15": dict(alibi=False, unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.15, lr=2e-3),
    "fast_v2k": dict(alibi=False, unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.4, lr=2e-3, vocab_size=2000),
    "fast_b32": dict(alibi=False, unigram_bias=True, betas=(0.9, 0.98), mask_prob=0.4, lr=2e-3, batch_size=32, steps=1200),
}


def run_variant(name: str, overrides: dict, corpus, seed: int) -> dict:
    preset = dataclasses.replace(MLM_PRESETS["cpu"], **{**VARIANTS.get(name, {}), **overrides}, seed=seed, eval_every=0)
    started = time.perf_counter()
    _, meta = train_mlm(preset, corpus, live_plot=False)
    wall = time.perf_counter() - started
    last = meta["evals"][-1]
    b = meta["baselines"]
    return {"variant": name, "seed": seed, "overrides": overrides, "steps": preset.steps, "batch": preset.batch_size,
            "train_s": round(meta["seconds"], 1), "wall_s": round(wall, 1), "tokens_per_s": round(meta["tokens_per_second"]),
            "masked_acc": round(last.get("eval_masked_accuracy", float("nan")), 4),
            "all_acc": round(last.get("eval_accuracy", float("nan")), 4), "eval_loss": round(last["eval_loss"], 3),
            "counts_masked": round(b["counts_masked"], 4), "unigram_masked": round(b["unigram_masked"], 4),
            "n_masked": b["n_masked"]}  # fmt: skip


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def step_rate(threads: int, seconds: float = 15.0) -> float:
    """Tokens/s of the cpu preset's training step with `threads` torch threads, for `seconds`."""
    torch.set_num_threads(threads)
    preset = MLM_PRESETS["cpu"]
    from ptmlab.models.transformer import TransformerConfig
    from ptmlab.objectives.mlm import MaskedLM

    config = TransformerConfig(vocab_size=preset.vocab_size, max_len=preset.block_len, d_model=preset.d_model,
                               n_layers=preset.n_layers, n_heads=preset.n_heads, dropout=0.0)  # fmt: skip
    objective = MaskedLM(preset.vocab_size)
    model = objective.build_model(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    blocks = torch.randint(5, preset.vocab_size, (preset.batch_size, preset.block_len), generator=generator)
    tokens, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        loss = objective.loss(model, objective.corrupt(blocks, generator)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        tokens += blocks.numel()
    return tokens / (time.perf_counter() - start)


def threads_table(seconds: float) -> list[dict]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    rows = []
    for busy in (False, True):
        neighbour = None
        if busy:  # another learner's kernel: one process spinning on one core
            neighbour = multiprocessing.Process(target=_spin, args=(seconds * 2 + 10,), daemon=True)
            neighbour.start()
            time.sleep(1.0)
        for threads in sorted({1, cores}):
            rows.append({"busy_neighbour": busy, "threads": threads, "tokens_per_s": round(step_rate(threads, seconds)),
                         "default_threads": runtime.default_threads()})  # fmt: skip
        if neighbour:
            neighbour.terminate()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", default=["cpu"])
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a preset field")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: ptmlab's choice)")
    parser.add_argument("--threads-only", action="store_true", help="measure thread counts and stop")
    parser.add_argument("--seconds", type=float, default=15.0, help="--threads-only: seconds per measurement")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        for name, overrides in VARIANTS.items():
            print(f"{name:>12}: {overrides or '(the cpu preset)'}")
        return 0
    if args.threads_only:
        rows = threads_table(args.seconds)
    else:
        runtime.set_threads(args.threads)
        overrides = {}
        for item in args.set:
            key, _, value = item.partition("=")
            try:
                overrides[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                overrides[key] = value
        corpus = load_corpus("wiki")
        print(f"{runtime.describe()}\ncorpus: {len(corpus.sentences)} sentences, {len(corpus.documents or [])} articles")
        rows = []
        for name in args.variants:
            for seed in args.seeds:
                row = run_variant(name, overrides, corpus, seed)
                rows.append(row)
                print(json.dumps(row), flush=True)
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items() if k != "overrides"))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
