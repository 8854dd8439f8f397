"""A fast, accurate CIFAR-10 network in the style of airbench94 (Keller Jordan, 2024).

Introduced in 10_a_better_network. Written with `keras` layers and `keras.ops` only, so it
runs on the TensorFlow, JAX and PyTorch backends. The recipe's ingredients, each a small
piece below:

- a 2x2 "whitening" first convolution whose kernels come from the eigenvectors of the
  training images' patch covariance, frozen (its bias trains for the first epochs only);
- three blocks of conv -> max-pool -> batch-norm -> GELU -> conv -> batch-norm -> GELU
  (widths 64/256/256), convolutions without bias, initialised partly as identities;
- batch-norm without a learned scale, and a bias that learns 64x faster than the rest;
- Nesterov SGD with L2 weight decay, label smoothing and a triangular learning-rate schedule;
- a lookahead average of the weights every 5 steps;
- alternating horizontal flips and random 2-pixel translations of the training images;
- test-time augmentation: the logits of mirrored and shifted copies are averaged.
"""

import keras
import numpy as np
from keras import layers, ops

from utils import models, muon
from utils.custom_layers import HorizontalFlip, ReflectShift, ScaledBias, TriangleSchedule

WIDTHS = (64, 256, 256)
WHITENING_WIDTH = 24  # 2 x (2 * 2 * 3): each eigenvector and its negative
RECIPES = ("airbench94", "airbench94_muon")

# airbench94_muon (main(), lines "batch_size = 2000" to "param_configs"): a PyTorch learning
# rate lr on a loss summed over the batch B is lr * B on Keras' mean loss, and its weight
# decay wd / lr per group (wd = 2e-6 * B) is an L2 coefficient wd / lr / (2 * B).
MUON_BATCH_SIZE = 2000
MUON_BIAS_LR, MUON_HEAD_LR, MUON_FILTER_LR = 0.053, 0.67, 0.24
MUON_BIAS_L2 = 2e-6 / MUON_BIAS_LR / 2  # 1.8868e-5
MUON_HEAD_L2 = 2e-6 / MUON_HEAD_LR / 2  # 1.4925e-6


# --- The network ------------------------------------------------------------------------

def conv(filters, regularizer, kernel_size=3):
    """A bias-free convolution initialised as PyTorch does: uniform(+-1/sqrt(fan_in))."""
    initializer = keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform")
    return layers.Conv2D(filters, kernel_size, padding="same", use_bias=False,
                         kernel_initializer=initializer, kernel_regularizer=regularizer)


def batch_norm(x, regularizer, bias_scale=8.0):
    """Batch-norm with no learned scale, then a bias that learns bias_scale**2 = 64x faster.

    The running statistics keep 0.6 of their old value at each step, as in airbench: its
    `BatchNorm(momentum=0.6)` passes 1 - 0.6 to PyTorch (whose momentum weighs the new
    batch), and Keras' momentum weighs the old statistics, so it is 0.6 here too.
    """
    x = layers.BatchNormalization(momentum=0.6, epsilon=1e-12, center=False, scale=False)(x)
    return ScaledBias(bias_scale, regularizer)(x)


def conv_group(x, filters, regularizer, bias_regularizer=None, bias_scale=8.0):
    """conv -> max-pool -> BN -> GELU -> conv -> BN -> GELU: halves the image, widens it.

    `regularizer` is for the kernels, `bias_regularizer` for the biases (the same one when
    None).
    """
    bias_regularizer = bias_regularizer or regularizer
    x = conv(filters, regularizer)(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Activation("gelu")(batch_norm(x, bias_regularizer, bias_scale))
    x = conv(filters, regularizer)(x)
    return layers.Activation("gelu")(batch_norm(x, bias_regularizer, bias_scale))


def build_network(x_train=None, widths=WIDTHS, l2=0.0, precision="mixed_bfloat16",
                  name="better_cnn", recipe="airbench94", whitening_eps=5e-4):
    """The training network: raw uint8 images in, 10 float32 logits out.

    Input statistics and the whitening kernels are computed from `x_train` (uint8). With
    `x_train=None` they are left empty, to be filled by loading saved weights
    (`utils.saving.load_model`). `l2` is the L2 penalty on every trained weight (see
    `sgd_hyperparameters`). `precision` is a Keras dtype policy: "mixed_bfloat16" computes in
    bfloat16 and keeps float32 weights (1.64x faster per step on this project's 2-core CPU,
    benchmarks/profile_step.json); `utils.precision.choose_precision()` picks one for the
    hardware at hand.

    `recipe="airbench94_muon"` makes the changes that recipe's training needs: no weight
    decay on the kernels, biases that learn at their own rate (no 8x scale), a whitening bias
    that starts random, a head initialised with standard deviation 1, and logits divided by
    the last width (256) instead of 9; `l2` is then ignored. `whitening_eps` is added to
    each eigenvalue before the whitening divides by its square root (`whitening_kernels`).
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        return build_layers(x_train, widths, l2, name, recipe, whitening_eps)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def build_layers(x_train, widths, l2, name, recipe="airbench94", whitening_eps=5e-4):
    """The layers of `build_network`, created under the current dtype policy."""
    if recipe == "airbench94_muon":
        kernel_regularizer, bias_scale = None, 1.0
        bias_regularizer = keras.regularizers.L2(MUON_BIAS_L2)
        head_regularizer = keras.regularizers.L2(MUON_HEAD_L2)
        # PyTorch's default bias init for the 2x2x3 whitening conv: uniform(+-1/sqrt(12))
        whitening_bias_init = keras.initializers.RandomUniform(-12 ** -0.5, 12 ** -0.5)
        # PyTorch's Linear init, then rescaled to standard deviation 1: uniform(+-sqrt(3))
        head_init = keras.initializers.RandomUniform(-3 ** 0.5, 3 ** 0.5)
        logit_scale = 1 / widths[-1]
    else:
        kernel_regularizer = bias_regularizer = head_regularizer = (
            keras.regularizers.L2(l2) if l2 else None)
        bias_scale, whitening_bias_init = 8.0, "zeros"
        head_init = keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform")
        logit_scale = 1 / 9
    if x_train is None:
        normalize = layers.Normalization(axis=-1, name="standardize")
    else:
        normalize = models.standardization_layer(x_train[:5000])

    inputs = keras.Input((32, 32, 3), name="image")
    x = normalize(inputs)
    whitening = layers.Conv2D(WHITENING_WIDTH, 2, use_bias=False, trainable=False,
                              name="whitening")
    x = whitening(x)
    x = ScaledBias(1.0, bias_regularizer, whitening_bias_init, name="whitening_bias")(x)
    x = layers.Activation("gelu")(x)
    for filters in widths:
        x = conv_group(x, filters, kernel_regularizer, bias_regularizer, bias_scale)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(10, use_bias=False, kernel_regularizer=head_regularizer,
                     kernel_initializer=head_init)(x)
    outputs = layers.Rescaling(logit_scale, dtype="float32", name="logits")(x)
    model = keras.Model(inputs, outputs, name=name)

    if x_train is not None:
        standardized = normalize(x_train[:5000].astype("float32"))
        whitening.set_weights([whitening_kernels(standardized, eps=whitening_eps)])
        identity_init(model)
    return model


def whitening_kernels(images, eps=5e-4):
    """2x2x3 kernels that decorrelate image patches: eigenvectors / sqrt(eigenvalue), and negatives.

    `images` are normalised, channels-last. Returns a kernel of shape (2, 2, 3, 24).
    """
    images = np.asarray(images, dtype=np.float64)
    patches = np.stack([images[:, dy:dy + 31, dx:dx + 31, :]
                        for dy in range(2) for dx in range(2)], axis=3)  # (n, 31, 31, 4, 3)
    patches = patches.reshape(-1, 12)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    scaled = eigenvectors / np.sqrt(eigenvalues + eps)  # columns: one whitening filter each
    kernel = scaled.reshape(2, 2, 3, 12)
    return np.concatenate([kernel, -kernel], axis=-1).astype("float32")


def identity_init(model):
    """Make each 3x3 conv pass its first `in_channels` channels through unchanged at the start."""
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D) and layer.kernel_size == (3, 3):
            kernel = ops.convert_to_numpy(layer.kernel)
            channels = min(kernel.shape[2], kernel.shape[3])
            kernel[:, :, :, :channels] = 0
            kernel[1, 1, np.arange(channels), np.arange(channels)] = 1
            layer.kernel.assign(kernel)


def with_test_time_augmentation(network, name="better_cnn"):
    """Wrap the logits network: average logits over mirror and shifts, then softmax.

    Half the weight goes to the image and its mirror image, half to two diagonally shifted
    copies (and their mirrors), as airbench does. Raw uint8 images in, probabilities out.
    """
    x = inputs = keras.Input((32, 32, 3), name="image")

    def mirror_average(images):
        return layers.Average()([network(images), network(HorizontalFlip()(images))])

    centred = mirror_average(x)
    shifted = layers.Average()([mirror_average(ReflectShift(-1, -1)(x)),
                                mirror_average(ReflectShift(1, 1)(x))])
    logits = layers.Average()([centred, shifted])
    probabilities = layers.Softmax(name="probabilities")(logits)
    return keras.Model(inputs, probabilities, name=name)


# --- Training -----------------------------------------------------------------------------

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
    """

    def __init__(self, images, labels, batch_size, translate=2, seed=0, **kwargs):
        super().__init__(**kwargs)
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
        images = self.images[:, :, ::-1] if self.epoch % 2 == 1 else self.images
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
                         label_smoothing=0.2, whitening_bias_epochs=3):
    """airbench94_muon's optimizer: Muon on the kernels, Nesterov SGD on biases and head.

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
                          sgd_momentum=0.85, sgd_nesterov=True, learning_rate_overrides=rates)
    network.compile(optimizer=optimizer,
                    loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                              label_smoothing=label_smoothing),
                    metrics=["accuracy"])
    return network


def train(x_train, y_train, history_path, validation_data=None, epochs=10, batch_size=1024,
          widths=WIDTHS, seed=0, verbose=2, precision="mixed_bfloat16", recipe="airbench94",
          whitening_eps=5e-4):
    """Build, compile and train the network with the whole recipe; return the logits network.

    `validation_data` is `(images, integer labels)` or None. Each epoch's metrics are
    written to the CSV file `history_path` (read it with `training.load_history`).
    `precision` is a Keras dtype policy (`utils.precision.choose_precision` picks one).
    `recipe` is "airbench94" (Nesterov SGD, triangular schedule, lookahead) or
    "airbench94_muon" (Muon, linear decay, no lookahead; airbench94_muon trains 8 epochs
    with batch size 2000).
    """
    keras.utils.set_random_seed(seed)
    _, l2 = sgd_hyperparameters(batch_size)
    network = build_network(x_train, widths=widths, l2=l2, precision=precision, recipe=recipe,
                            whitening_eps=whitening_eps)
    batches = AlternatingFlipTranslate(x_train, y_train, batch_size, seed=seed)
    total_steps = epochs * len(batches)
    if validation_data is not None:
        x_val, y_val = validation_data
        validation_data = (x_val, np.eye(10, dtype="float32")[y_val])
    callbacks = [keras.callbacks.CSVLogger(history_path)]
    if recipe == "airbench94_muon":
        compile_network_muon(network, len(batches), epochs, batch_size)
    else:
        compile_network(network, total_steps, batch_size)
        whitening_bias = network.get_layer("whitening_bias").bias
        callbacks = [Lookahead(total_steps), FreezeAfter(whitening_bias, 3)] + callbacks
    network.fit(batches, epochs=epochs, validation_data=validation_data, verbose=verbose,
                callbacks=callbacks)
    return network
