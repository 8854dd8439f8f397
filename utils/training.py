"""Seeding and a resumable `fit`: the best model, the history on disk, and crash recovery.

Introduced in 06_training. `fit()` wires three Keras callbacks:

- `ModelCheckpoint` keeps the model with the best validation accuracy as `NAME.keras`;
- `CSVLogger` writes one row per epoch to `NAME_history.csv`, so the history survives
  the kernel;
- `BackupAndRestore` saves the full training state after every epoch in
  `NAME_backup/`; if the run dies, calling `fit()` again resumes from the last finished
  epoch and the CSV history continues where it stopped.
"""
import json
from pathlib import Path

import keras
import pandas as pd

from utils import config

SEED = 42


def set_seed(seed=SEED):
    """Seed Python, NumPy and the Keras backend so a run can be repeated."""
    keras.utils.set_random_seed(seed)


def run_paths(name, folder=None):
    """The files one training run writes: best model, CSV history and backup folder."""
    folder = Path(folder) if folder else config.models_dir()
    return {"model": folder / f"{name}.keras",
            "history": folder / f"{name}_history.csv",
            "backup": folder / f"{name}_backup"}


def fit(model, x_train, y_train, validation_data, *, name, epochs, batch_size,
        folder=None, verbose=2, callbacks=()):
    """Train `model` with checkpoints, a CSV history and resume-on-rerun.

    Returns the whole history as a DataFrame (one row per epoch, earlier sessions of an
    interrupted run included). The best model by validation accuracy is saved as
    `NAME.keras` in `folder` (default: `config.models_dir()`).
    """
    paths = run_paths(name, folder)
    paths["model"].parent.mkdir(parents=True, exist_ok=True)
    resuming = paths["backup"].is_dir() and paths["history"].is_file()
    best_so_far = None
    if resuming:
        best_so_far = load_history(paths["history"])["val_accuracy"].max()
        print(f"Resuming {name} from its backup ({best_so_far=:.4f}).")
    checkpoint_cb = keras.callbacks.ModelCheckpoint(
        paths["model"], monitor="val_accuracy", mode="max", save_best_only=True,
        initial_value_threshold=best_so_far)
    history_cb = keras.callbacks.CSVLogger(paths["history"], append=resuming)
    backup_cb = keras.callbacks.BackupAndRestore(paths["backup"])
    model.fit(x_train, y_train, validation_data=validation_data, epochs=epochs,
              batch_size=batch_size, verbose=verbose,
              callbacks=[checkpoint_cb, history_cb, backup_cb, *callbacks])
    return load_history(paths["history"])


def load_history(path):
    """Read a CSV history written by `fit()`: one row per epoch, numbered from 1.

    If a run was killed between writing a row and saving its backup, the resumed run
    writes that epoch again; the later row wins.
    """
    history = pd.read_csv(path)
    history = history.drop_duplicates("epoch", keep="last").reset_index(drop=True)
    history["epoch"] = history["epoch"] + 1
    return history


def save_summary(summary, name, folder=None):
    """Write a run's key numbers as `NAME_summary.json` beside its model; return the path."""
    path = (Path(folder) if folder else config.models_dir()) / f"{name}_summary.json"
    path.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    return path


def load_summary(name, folder=None):
    """Read the numbers `save_summary` wrote for run `name`, as a dict."""
    path = (Path(folder) if folder else config.models_dir()) / f"{name}_summary.json"
    return json.loads(path.read_text())
