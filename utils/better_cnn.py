"""A fast, accurate CIFAR-10 network in the style of airbench (Keller Jordan, 2024): the architecture.

Introduced in 10_better_network_architecture; its training recipe is `utils.recipe`
(11_better_network_training). Written with `keras` layers and `keras.ops` only, so it
runs on the TensorFlow, JAX and PyTorch backends. The pieces:

- a 2x2 "whitening" first convolution whose kernels come from the eigenvectors of the
  training images' patch covariance, frozen (its bias trains for the first epochs only);
- three blocks of conv -> max-pool -> batch-norm -> GELU -> conv -> batch-norm -> GELU
  (widths 64/256/256), convolutions without bias, initialised partly as identities;
- batch-norm without a learned scale, followed by a bias of its own;
- a global max-pool and a 10-way linear head whose logits are scaled down;
- test-time augmentation: the logits of mirrored and shifted copies are averaged.
"""


import keras
import numpy as np
from keras import layers, ops

from utils import models
from utils.custom_layers import HorizontalFlip, ReflectShift, ScaledBias

WIDTHS = (64, 256, 256)
WHITENING_WIDTH = 24  # 2 x (2 * 2 * 3): each eigenvector and its negative
RECIPES = ("airbench94", "airbench94_muon")

# Whitening: eps is added to each patch eigenvalue before dividing by its square root. airbench
# uses 5e-4; 0.1 was chosen on validation in 11_better_network_training (noise robustness).
WHITENING_EPS = 0.1

# airbench94_muon's weight decay, 2e-6 * batch on a batch-summed loss, as L2 coefficients on
# the biases and the head: wd / lr / 2 with the learning rates of `utils.recipe` (0.053, 0.67).
MUON_BIAS_L2 = 2e-6 / 0.053 / 2  # 1.8868e-5
MUON_HEAD_L2 = 2e-6 / 0.67 / 2   # 1.4925e-6


# --- The network ------------------------------------------------------------------------

def conv(filters, regularizer, kernel_size=3, padding="same"):
    """A bias-free convolution initialised as PyTorch does: uniform(+-1/sqrt(fan_in))."""
    initializer = keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform")
    return layers.Conv2D(filters, kernel_size, padding=padding, use_bias=False,
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
                  name="better_cnn", recipe="airbench94_muon", whitening_eps=WHITENING_EPS,
                  whitening=True, identity=True, first_padding="same"):
    """The training network: raw uint8 images in, 10 float32 logits out.

    Input statistics and the whitening kernels are computed from `x_train` (uint8). With
    `x_train=None` they are left empty, to be filled by loading saved weights
    (`utils.saving.load_model`). `l2` is the L2 penalty on every trained weight (see
    `sgd_hyperparameters`). `precision` is a Keras dtype policy: "mixed_bfloat16" computes in
    bfloat16 and keeps float32 weights (1.64x faster per step on this project's 2-core CPU,
    benchmarks/profile_step.json); `utils.precision.choose_precision()` picks one for the
    hardware at hand.

    `recipe` is the training recipe the network is built for (`utils.recipe`):
    "airbench94_muon" (the default) has no weight decay on the kernels, biases that learn at
    their own rate, a whitening bias that starts random, a head initialised with standard
    deviation 1, and logits divided by the last width (256); `l2` is then ignored.
    "airbench94" has L2 `l2` on every weight, batch-norm biases scaled by 8 (64x faster
    learning), a zero whitening bias, PyTorch's head initialisation and logits divided by 9.
    `whitening_eps` is added to each eigenvalue before the whitening divides by its square
    root (`whitening_kernels`).

    `whitening=False` (notebook 11's final recipe, and its ablation) makes the first 2x2 layer
    an ordinary trained convolution with the default initialisation and "same" padding: the
    maps are then 32, 16, 8 and 4 pixels instead of 31, 15, 7 and 3, and the final 3x3
    max-pool covers the top-left 3x3 of the last 4x4 map. `first_padding="valid"` (with
    `whitening=False`, an ablation) trains that convolution without padding, so the maps keep
    the whitening network's sizes. `identity=False` (ablation) leaves
    the 3x3 convolutions at their random initialisation (`identity_init` is skipped).
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        return build_layers(x_train, widths, l2, name, recipe, whitening_eps, whitening,
                            identity, first_padding)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def build_layers(x_train, widths, l2, name, recipe="airbench94_muon",
                 whitening_eps=WHITENING_EPS, whitening=True, identity=True,
                 first_padding="same"):
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
    if whitening:
        first_layer = layers.Conv2D(WHITENING_WIDTH, 2, use_bias=False, trainable=False,
                                    name="whitening")
    else:
        first_layer = conv(WHITENING_WIDTH, kernel_regularizer, kernel_size=2,
                           padding=first_padding)
    x = first_layer(x)
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
        if whitening:
            first_layer.set_weights([whitening_kernels(standardized, eps=whitening_eps)])
        if identity:
            identity_init(model)
    return model


def whitening_kernels(images, eps=WHITENING_EPS):
    """2x2x3 kernels that decorrelate image patches: eigenvectors / sqrt(eigenvalue), and negatives.

    `images` are normalised, channels-last. Returns a kernel of shape (2, 2, 3, 24).
    """
    images = np.asarray(ops.convert_to_numpy(images), dtype=np.float64)  # any backend's tensor
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
