"""Where things live, and the quick mode every notebook and helper respects.

Quick mode (`QUICK=1` in the environment) shrinks the data and the number of epochs so
that a notebook runs in seconds, and sends every model, figure and history it writes to
`scratch/` so that the committed ones are never overwritten.
"""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"
SCRATCH_DIR = ROOT / "scratch"

QUICK_ENV_VAR = "QUICK"


def is_quick():
    """True when the environment asks for quick mode (`QUICK=1`, `true` or `yes`)."""
    return os.environ.get(QUICK_ENV_VAR, "").strip().lower() in {"1", "true", "yes"}


def output_dir(kind):
    """The folder for outputs of one kind ("figures", "models", ...), created if needed.

    In full mode this is `ROOT/kind` (committed); in quick mode `ROOT/scratch/kind`.
    """
    folder = (SCRATCH_DIR if is_quick() else ROOT) / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def figures_dir():
    """Where `plots.save_fig` writes PNGs: `figures/`, or `scratch/figures/` in quick mode."""
    return output_dir("figures")


def models_dir():
    """Where trained models and histories go: `models/`, or `scratch/models/` in quick mode."""
    return output_dir("models")


def epochs(full):
    """The number of epochs to train: `full` normally, 2 in quick mode."""
    return 2 if is_quick() else full
