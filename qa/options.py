"""Command-line options every subcommand shares (paths of the model, index and corpus), kept apart from
``qa/cli.py`` so that the subcommands defined elsewhere (``qa/evaluate.py``, ``qa/bench.py``) need not
import the CLI that imports them."""

from __future__ import annotations

import argparse

from qa.config import Settings


def settings_from_args(args: argparse.Namespace) -> Settings:
    """``Settings`` from the environment, overridden by ``--model`` / ``--index`` / ``--corpus``."""
    return Settings.from_env(
        model_dir=getattr(args, "model", None),
        index_dir=getattr(args, "index", None),
        corpus_dir=getattr(args, "corpus", None),
    )


def add_path_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="local sentence-transformers model folder (env REPORT_QA_MODEL)")
    p.add_argument("--index", help="index folder (env REPORT_QA_INDEX_DIR, default ./index)")
    p.add_argument("--corpus", help="corpus folder (env REPORT_QA_CORPUS_DIR, default ./corpus)")
