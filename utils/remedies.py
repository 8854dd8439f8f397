"""Remedies for overfitting, each switchable on the baseline network, for a fair comparison.

Introduced in 09_fixing_overfitting. `build_cnn` is the baseline network of notebook 05
(`models.build_baseline_cnn`) with every remedy off by default; `compile_cnn` adds the
optimizer-side remedies; `train_variant` trains one combination and keeps its history, reusing it only for the very
same run, so an interrupted comparison picks up at the first run that has not finished;
`final_score` scores one run, `summarize_seeds` compares variants trained with several
seeds.
"""
import hashlib
import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from keras import layers

from utils import models, training

NUM_CLASSES = models.NUM_CLASSES


def augmentation(seed=0):
    """Random mirror images and shifts of up to 4 pixels (1/8 of the image), reflected borders.

    Keras' random layers change images only when the model is called with training=True
    (inside `fit`); for `evaluate` and `predict` they pass images through untouched.
    """
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", seed=seed),
    ], name="augmentation")


def build_cnn(augment=False, dropout=False, l2=0.0, name="cnn", seed=0):
    """The baseline CNN of 05 with every remedy off unless switched on.

    augment: random flips and shifts at the input (training only), drawn from `seed`.
    dropout: the baseline's dropout (0.25 after each block, 0.5 before the output) or none.
    l2: an L2 penalty on every kernel, `l2 * sum(w**2)` added to the loss.
    """
    return models.build_baseline_cnn(name=name, dropout=dropout, l2=l2,
                                     augmentation=augmentation(seed) if augment else None)


def one_cycle(peak, total_steps, warmup_fraction=0.2):
    """Learning rate: linear warm-up to `peak` over the first 20% of steps, then cosine to 0."""
    warmup_steps = max(1, int(warmup_fraction * total_steps))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 25, decay_steps=total_steps - warmup_steps,
        warmup_target=peak, warmup_steps=warmup_steps, alpha=0.0)


def compile_cnn(model, learning_rate=1e-3, weight_decay=0.0, label_smoothing=0.0):
    """Adam (AdamW when `weight_decay` > 0) on a label-smoothed cross-entropy of one-hot labels.

    `learning_rate` is a number or a schedule such as `one_cycle(...)`.
    """
    if weight_decay:
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    else:
        optimizer = keras.optimizers.Adam(learning_rate)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
                  metrics=["accuracy"])
    return model


def one_hot(labels):
    """Integer labels as one-hot rows, as label smoothing needs them."""
    return keras.utils.to_categorical(labels, NUM_CLASSES)


def run_fingerprint(model, train_data, validation_data, epochs, batch_size):
    """A digest of everything that defines one training run of `model`.

    The layers and their settings (not their automatic names), the initial weights (so the
    seed counts), the optimizer, loss, data, epochs and batch size: change any of them and
    the fingerprint changes.
    """
    digest = hashlib.sha256()
    for layer in model.layers:
        config = {key: value for key, value in layer.get_config().items() if key != "name"}
        digest.update(f"{layer.__class__.__name__}{config}".encode())
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    optimizer = {key: value for key, value in model.optimizer.get_config().items() if key != "name"}
    digest.update(f"{optimizer}{model.loss.get_config()}{epochs}{batch_size}".encode())
    for images, labels in (train_data, validation_data):
        digest.update(np.ascontiguousarray(images).tobytes())
        digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()


def train_variant(model, train_data, validation_data, history_path, epochs, batch_size):
    """Train one variant and return its history, or reuse the history of the very same run.

    The history is a CSV file with one row per epoch; beside it, `NAME.run.json` records the
    run's `run_fingerprint`. A saved history is reused only when the fingerprint is the same
    and the history complete, and the output says so; any change (another option, seed,
    subset or number of epochs) trains the variant again.
    """
    history_path = Path(history_path)
    run_file = history_path.with_suffix(".run.json")
    fingerprint = run_fingerprint(model, train_data, validation_data, epochs, batch_size)
    if history_path.is_file() and run_file.is_file():
        saved = json.loads(run_file.read_text())
        history = training.load_history(history_path)
        if saved.get("fingerprint") == fingerprint and len(history) >= epochs:
            print(f"{history_path.name}: reusing the saved history of this exact run "
                  f"(same network, initial weights, optimizer, data and epochs).")
            return history
    (x_train, y_train), (x_val, y_val) = train_data, validation_data
    model.fit(x_train, one_hot(y_train), validation_data=(x_val, one_hot(y_val)),
              epochs=epochs, batch_size=batch_size, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(history_path)])
    run_file.write_text(json.dumps({"fingerprint": fingerprint, "epochs": epochs,
                                    "batch_size": batch_size}, indent=2) + "\n")
    return training.load_history(history_path)


def final_score(history, last=3):
    """A run's validation accuracy: the mean over its `last` epochs.

    One epoch's accuracy swings with the last few steps (by several points when the learning
    rate stays high); the mean of the last few epochs is steadier and, unlike the best epoch,
    is not picked out of the noise after the fact.
    """
    return float(history["val_accuracy"].iloc[-last:].mean())


def summarize_seeds(histories, last=3):
    """Compare variants trained with several seeds: one row per variant.

    `histories` maps each variant to `{seed: history}`. Each run is scored by `final_score`;
    the row gives the mean over seeds, their standard deviation, the lowest and highest
    run's score, and over the same last epochs the training accuracy (as Keras reports it:
    with dropout on and on augmented images), the train-minus-validation gap and the
    validation loss (means over seeds).
    """
    rows = {}
    for name, runs in histories.items():
        scores = np.array([final_score(history, last) for history in runs.values()])
        train = np.array([history["accuracy"].iloc[-last:].mean() for history in runs.values()])
        rows[name] = {"val accuracy": scores.mean(),
                      "std over seeds": scores.std(ddof=1) if len(scores) > 1 else np.nan,
                      "lowest run": scores.min(), "highest run": scores.max(),
                      "train accuracy": train.mean(), "gap": (train - scores).mean(),
                      "val loss": np.mean([h["val_loss"].iloc[-last:].mean() for h in runs.values()]),
                      "seeds": len(scores)}
    return pd.DataFrame(rows).T


def seed_scores(histories, last=3):
    """Every run's `final_score`, as a table with one row per variant and one column per seed."""
    return pd.DataFrame({name: {seed: final_score(history, last) for seed, history in runs.items()}
                         for name, runs in histories.items()}).T


def learning_rates(schedule, total_steps):
    """The learning rate at every step 0..total_steps, as a NumPy array (for plotting)."""
    return np.array([float(schedule(step)) for step in range(total_steps + 1)])
