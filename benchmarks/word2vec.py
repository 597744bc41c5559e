"""Benchmark: ptmlab's PyTorch skip-gram vs gensim's Word2Vec (sg=1) on the same corpus, settings and epochs.

Prints the wall-time ratio and the WordSim353 Spearman correlation of both (target: within 2x of gensim's time at equal
or better correlation). Both run in the same process, one after the other, so machine load affects both alike.

    python benchmarks/word2vec.py                  # the whole Wikipedia extract, 5 epochs, 100 dims
    python benchmarks/word2vec.py --epochs 10 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=None, help="first N sentences of the extract (default: all)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="gensim worker threads")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1024,
        help="ptmlab's SGD batch (the chapter's default is 8192, faster on big corpora)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="alternate the two trainers, one seed per repeat")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first repeat (then seed + 1, ...)")
    args = parser.parse_args()

    from ptmlab.data.corpora import load_corpus, word_similarity
    from ptmlab.tasks.similarity import word_similarity_score
    from ptmlab.train.static_embeddings import train_gensim, train_word2vec

    tokens = load_corpus("wiki", max_sentences=args.sentences).token_lists()
    settings = dict(
        dim=args.dim, window=args.window, negative=args.negative, min_count=args.min_count, epochs=args.epochs
    )
    pairs = word_similarity("wordsim353")
    print(
        f"corpus: {len(tokens):,} sentences, {sum(map(len, tokens)):,} tokens; settings {settings}; "
        f"gensim workers={args.workers}; ptmlab threads=1; cpus available={len(os.sched_getaffinity(0))}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    times: dict[str, list[float]] = {"ptmlab": [], "gensim": []}
    scores: dict[str, list[float]] = {"ptmlab": [], "gensim": []}
    coverage = ""
    for repeat in range(args.repeats):
        seed = args.seed + repeat
        for name in ("ptmlab", "gensim"):
            started = time.perf_counter()
            if name == "ptmlab":
                run = train_word2vec(
                    tokens,
                    kind="skipgram",
                    cache=False,
                    progress=False,
                    seed=seed,
                    batch_size=args.batch_size,
                    **settings,
                )
            else:
                run = train_gensim("skipgram", tokens, workers=args.workers, seed=seed, **settings)
            elapsed = time.perf_counter() - started  # wall time including vocabulary building, for both
            result = word_similarity_score(run.vectors, pairs, dataset="wordsim353")
            times[name].append(elapsed)
            scores[name].append(result.spearman)
            coverage = f"{result.n_used}/{result.n_pairs} pairs"
            print(
                f"  seed {seed}: {name:6s} {elapsed:6.1f} s   WordSim353 rho {result.spearman:.3f} ({coverage})",
                flush=True,
            )

    ours, theirs = statistics.median(times["ptmlab"]), statistics.median(times["gensim"])
    rho_ours, rho_theirs = statistics.mean(scores["ptmlab"]), statistics.mean(scores["gensim"])
    spread = {k: statistics.pstdev(v) for k, v in scores.items()}
    ratio = ours / theirs
    print(f"\nptmlab skip-gram: median {ours:.1f} s, WordSim353 rho {rho_ours:.3f} ± {spread['ptmlab']:.3f}")
    print(
        f"gensim skip-gram: median {theirs:.1f} s, WordSim353 rho {rho_theirs:.3f} ± {spread['gensim']:.3f}   "
        f"({coverage}; mean ± sd over {args.repeats} seeds)"
    )
    print(
        f"time ratio ptmlab / gensim = {ratio:.2f}x (target <= 2x); rho difference {rho_ours - rho_theirs:+.3f} "
        f"(target >= 0, within noise)"
    )
    tolerance = max(0.02, spread["ptmlab"] + spread["gensim"])
    verdict = "meets" if ratio <= 2.0 and rho_ours >= rho_theirs - tolerance else "misses"
    print(f"=> {verdict} the target (rho within {tolerance:.3f}, the seeds' spread, counts as equal).")


if __name__ == "__main__":
    main()
