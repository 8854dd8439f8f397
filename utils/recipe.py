"""The better network's training recipe: optimizer, schedule, augmentation and training loop.

Introduced in 11_better_network_training; the network itself is `utils.better_cnn`
(10_better_network_architecture). Two recipes, both after Keller Jordan's airbench (2024):

- "airbench94_muon", the one the project's model is trained with: Muon (`utils.muon`) on
  the convolution kernels and Nesterov SGD on the biases and the head, batch 2,000, every
  learning rate falling linearly to 0 over 8 epochs, the whitening bias frozen after 3;
- "airbench94", its predecessor: Nesterov SGD with L2 weight decay, a triangular
  learning-rate schedule and a lookahead average of the weights, batch 1,024, 10 epochs.

Both use label smoothing and airbench's augmentation: alternating horizontal flips and
random 2-pixel translations.
"""

import hashlib
import json
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from utils import better_cnn, muon
from utils.custom_layers import TriangleSchedule

RECIPES = better_cnn.RECIPES

# airbench94_muon (main(), lines "batch_size = 2000" to "param_configs"): a PyTorch learning
# rate lr on a loss summed over the batch B is lr * B on Keras' mean loss (and its weight
# decay wd / lr per group, wd = 2e-6 * B, is an L2 coefficient wd / lr / (2 * B): see
# `better_cnn.MUON_BIAS_L2` and `MUON_HEAD_L2`).
MUON_BATCH_SIZE = 2000
MUON_EPOCHS = 8
MUON_BIAS_LR, MUON_HEAD_LR, MUON_FILTER_LR = 0.053, 0.67, 0.24

def sgd_hyperparameters(batch_size, lr=11.5, momentum=0.85, weight_decay=0.0153):
    """airbench's decoupled hyperparameters, converted for Keras' SGD on a mean loss.

    airbench gives the learning rate and weight decay per 1024 examples, with the momentum's
    amplification divided out; Keras averages the loss over the batch. Returns the peak
    learning rate and the L2 coefficient that give the same updates.
    """
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    keras_lr = lr / kilostep_scale * batch_size
    decay_per_step = weight_decay * batch_size / kilostep_scale
    l2 = decay_per_step / keras_lr / 2  # L2(l2) adds 2 * l2 * w to the gradient
    return keras_lr, l2


class AlternatingFlipTranslate(keras.utils.PyDataset):
    """Training batches with airbench's augmentation, made with NumPy on uint8 images.

    Every image is mirrored at random once; then every other epoch the whole set is mirrored,
    so each image is seen both ways in consecutive epochs. Each epoch, each image is also
    shifted by up to `translate` pixels (reflection padding). Labels are one-hot.
    `alternating=False` mirrors each image at random every epoch instead (the usual random
    flip, for the ablation).
    """

    def __init__(self, images, labels, batch_size, translate=2, seed=0, alternating=True,
                 **kwargs):
        super().__init__(**kwargs)
        self.alternating = alternating
        self.rng = np.random.default_rng(seed)
        flip = self.rng.random(len(images)) < 0.5
        self.images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
        self.labels = np.eye(10, dtype="float32")[labels]
        self.batch_size, self.translate, self.epoch = batch_size, translate, 0
        self.prepare_epoch()

    def __len__(self):
        return len(self.images) // self.batch_size  # drop the last partial batch

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.epoch_images[rows], self.labels[rows]

    def on_epoch_end(self):
        self.epoch += 1
        self.prepare_epoch()

    def prepare_epoch(self):
        """Mirror everything on odd epochs, shift each image at random, shuffle."""
        if self.alternating:
            images = self.images[:, :, ::-1] if self.epoch % 2 == 1 else self.images
        else:
            flip = self.rng.random(len(self.images)) < 0.5
            images = np.where(flip[:, None, None, None], self.images[:, :, ::-1], self.images)
        self.epoch_images = random_translate(images, self.translate, self.rng)
        self.order = self.rng.permutation(len(self.images))


def random_translate(images, pad, rng):
    """Shift each image by a random (dy, dx) in [-pad, pad], filling borders by reflection."""
    if pad == 0:
        return images
    padded = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)], mode="reflect")
    shifts = rng.integers(0, 2 * pad + 1, size=(len(images), 2))
    out = np.empty_like(images)
    size = images.shape[1]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            rows = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
            out[rows] = padded[rows, dy:dy + size, dx:dx + size]
    return out


class Lookahead(keras.callbacks.Callback):
    """Every `every` steps, pull the weights towards a slow moving average, then use it.

    The average's decay grows as 0.95**5 * (progress)**3: early on the weights move freely,
    late in training they are averaged strongly. At the end the model keeps the average.
    """

    def __init__(self, total_steps, every=5):
        super().__init__()
        self.total_steps, self.every, self.step = total_steps, every, 0

    def on_train_begin(self, logs=None):
        self.average = [ops.convert_to_numpy(v) for v in self.float_variables()]

    def float_variables(self):
        return [v for v in self.model.variables if "float" in str(v.dtype)]

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0 or self.step == self.total_steps:
            decay = 1.0 if self.step == self.total_steps else \
                0.95 ** 5 * (self.step / self.total_steps) ** 3
            for average, variable in zip(self.average, self.float_variables()):
                average += (1 - decay) * (ops.convert_to_numpy(variable) - average)
                variable.assign(average)


class FreezeAfter(keras.callbacks.Callback):
    """Stop training one variable after `epochs` epochs, by restoring it after every step."""

    def __init__(self, variable, epochs):
        super().__init__()
        self.variable, self.epochs, self.frozen = variable, epochs, None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epochs:
            self.frozen = ops.convert_to_numpy(self.variable)

    def on_train_batch_end(self, batch, logs=None):
        if self.frozen is not None:
            self.variable.assign(self.frozen)


def compile_network(network, total_steps, batch_size, label_smoothing=0.2):
    """Nesterov SGD with the triangular schedule and a label-smoothed cross-entropy."""
    peak_lr, _ = sgd_hyperparameters(batch_size)
    optimizer = keras.optimizers.SGD(TriangleSchedule(peak_lr, total_steps),
                                     momentum=0.85, nesterov=True)
    network.compile(optimizer=optimizer,
                    loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                              label_smoothing=label_smoothing),
                    metrics=["accuracy"])
    return network


def compile_network_muon(network, steps_per_epoch, epochs, batch_size=MUON_BATCH_SIZE,
                         label_smoothing=0.2, whitening_bias_epochs=3, ns_dtype="bfloat16"):
    """airbench94_muon's optimizer: Muon on the kernels, Nesterov SGD on biases and head.

    `ns_dtype` is the dtype of Muon's Newton-Schulz products: "bfloat16" as in the source
    where the hardware has it, "float32" elsewhere (`train` picks it from the precision).

    Every learning rate falls linearly to 0 over the run; the whitening bias's falls to 0
    after `whitening_bias_epochs`, which freezes it from then on.
    """
    total_steps = epochs * steps_per_epoch

    def linear_decay(rate, steps):
        return keras.optimizers.schedules.PolynomialDecay(rate, steps, end_learning_rate=0.0)

    bias_paths = [variable.path for variable in network.trainable_variables
                  if variable.path.endswith("/bias")]
    rates = {path: linear_decay(MUON_BIAS_LR * batch_size, total_steps) for path in bias_paths}
    rates["whitening_bias/bias"] = linear_decay(MUON_BIAS_LR * batch_size,
                                                whitening_bias_epochs * steps_per_epoch)
    optimizer = muon.Muon(learning_rate=linear_decay(MUON_FILTER_LR, total_steps),
                          momentum=0.6, nesterov=True, ns_steps=3,
                          sgd_learning_rate=linear_decay(MUON_HEAD_LR * batch_size, total_steps),
                          sgd_momentum=0.85, sgd_nesterov=True, learning_rate_overrides=rates,
                          ns_dtype=ns_dtype)
    network.compile(optimizer=optimizer,
                    loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                              label_smoothing=label_smoothing),
                    metrics=["accuracy"])
    return network


def train(x_train, y_train, history_path, validation_data=None, epochs=MUON_EPOCHS,
          batch_size=MUON_BATCH_SIZE, widths=better_cnn.WIDTHS, seed=0, verbose=2,
          precision="mixed_bfloat16", recipe="airbench94_muon",
          whitening_eps=better_cnn.WHITENING_EPS, whitening=True, identity=True,
          label_smoothing=0.2, alternating_flips=True, lookahead=True, first_padding="same"):
    """Build, compile and train the network with the whole recipe; return the logits network.

    `validation_data` is `(images, integer labels)` or None. Each epoch's metrics are
    written to the CSV file `history_path` (read it with `training.load_history`).
    `precision` is a Keras dtype policy (`utils.precision.choose_precision` picks one).
    `recipe` is "airbench94_muon" (Muon, linear decay, no lookahead; 8 epochs of batch
    2,000) or "airbench94" (Nesterov SGD, triangular schedule, lookahead; airbench94 trains
    10 epochs of batch 1,024: pass those). The remaining switches turn one ingredient off
    for an ablation: `whitening`, `identity` and `first_padding` (see
    `better_cnn.build_network`),
    `label_smoothing` (0 for none), `alternating_flips` (False: a random flip each epoch)
    and `lookahead` ("airbench94" only).
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    keras.utils.set_random_seed(seed)
    _, l2 = sgd_hyperparameters(batch_size)
    network = better_cnn.build_network(x_train, widths=widths, l2=l2, precision=precision,
                                       recipe=recipe, whitening_eps=whitening_eps,
                                       whitening=whitening, identity=identity,
                                       first_padding=first_padding)
    batches = AlternatingFlipTranslate(x_train, y_train, batch_size, seed=seed,
                                       alternating=alternating_flips)
    total_steps = epochs * len(batches)
    if validation_data is not None:
        x_val, y_val = validation_data
        validation_data = (x_val, np.eye(10, dtype="float32")[y_val])
    callbacks = [keras.callbacks.CSVLogger(history_path)]
    if recipe == "airbench94_muon":
        ns_dtype = "bfloat16" if precision == "mixed_bfloat16" else "float32"  # T4: no bf16
        compile_network_muon(network, len(batches), epochs, batch_size, label_smoothing,
                             ns_dtype=ns_dtype)
    else:
        compile_network(network, total_steps, batch_size, label_smoothing)
        whitening_bias = network.get_layer("whitening_bias").bias
        callbacks = [FreezeAfter(whitening_bias, 3)] + callbacks
        if lookahead:
            callbacks = [Lookahead(total_steps)] + callbacks
    network.fit(batches, epochs=epochs, validation_data=validation_data, verbose=verbose,
                callbacks=callbacks)
    return network


def run_fingerprint(train_data, validation_data=None, **settings):
    """A digest of one training run: its settings (epochs, seed, switches...) and its data.

    Two runs with the same fingerprint train the same network on the same images with the
    same recipe, so a saved result can stand in for training again (on the same Keras; the
    random initial weights of another version may differ).
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for array in (*train_data, *(validation_data or ())):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def load_saved_run(path, fingerprint):
    """The saved record (a dict) of the run at `path` (JSON) if its fingerprint matches, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("fingerprint") == fingerprint else None


def run_settings(precision="mixed_bfloat16", seed=0, **switches):
    """Every setting of one run of the airbench94_muon recipe, as a dict for `train(**settings)`.

    `switches` turn ingredients off for an ablation (`whitening=False`, `identity=False`,
    `label_smoothing=0.0`, `alternating_flips=False`) or change the epochs. `first_padding`
    is added only when given, so the records of earlier runs keep their fingerprints.
    """
    settings = {"recipe": "airbench94_muon", "epochs": MUON_EPOCHS,
                "batch_size": MUON_BATCH_SIZE, "seed": seed, "precision": precision,
                "whitening_eps": better_cnn.WHITENING_EPS, "whitening": True, "identity": True,
                "label_smoothing": 0.2, "alternating_flips": True}
    unknown = set(switches) - set(settings) - {"first_padding"}
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(settings)}")
    settings.update(switches)
    return settings


NOISE_SIGMA = 20  # notebook 12's Gaussian pixel noise, in 0-255 units


def accuracy(probabilities, labels):
    """The fraction of rows whose largest entry is at the true label."""
    return float(np.mean(np.asarray(probabilities).argmax(axis=1) == labels))


def train_and_score(name, train_data, validation_data, test_data, settings, folder):
    """Train one run with `train(**settings)`, score it, save its files; return (record, model).

    Scores the validation images if `validation_data` is given, else the test images:
    without and with test-time augmentation, and with augmentation under Gaussian noise of
    `NOISE_SIGMA`. Writes into `folder`: NAME_history.csv, NAME.json (the record: settings,
    `run_fingerprint`, wall time, accuracies) and, for a validation run,
    NAME_val_probabilities.npy (with test-time augmentation). `model` is the network with
    test-time augmentation built in (`better_cnn.with_test_time_augmentation`).
    """
    from utils import data, inside  # only needed here

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = run_fingerprint(train_data, validation_data, **settings)
    start = time.perf_counter()
    network = train(*train_data, folder / f"{name}_history.csv",
                    validation_data=validation_data, **settings)
    record = {"name": name, "settings": settings, "fingerprint": fingerprint,
              "training_images": len(train_data[0]),
              "train_seconds": round(time.perf_counter() - start, 1),
              "keras": keras.__version__, "data": data.describe_source(),
              "date": time.strftime("%Y-%m-%d")}
    model = better_cnn.with_test_time_augmentation(network)
    split = "val" if validation_data is not None else "test"
    images, labels = validation_data if validation_data is not None else test_data
    plain = network.predict(images, batch_size=1000, verbose=0)  # logits: the same argmax
    with_tta = model.predict(images, batch_size=1000, verbose=0)
    noisy = model.predict(inside.gaussian_noise(images, NOISE_SIGMA), batch_size=1000, verbose=0)
    record.update({f"{split}_accuracy": accuracy(plain, labels),
                   f"{split}_accuracy_tta": accuracy(with_tta, labels),
                   f"{split}_accuracy_tta_noise{NOISE_SIGMA}": accuracy(noisy, labels)})
    if split == "val":
        np.save(folder / f"{name}_val_probabilities.npy", with_tta.astype("float32"))
    (folder / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record, model
