"""The custom Keras layers and schedule of the better network, in a module of their own.

Introduced in 10_better_network_architecture and 11_better_network_training. They live
here, not in `utils.better_cnn`, so that the code that builds the network
(`utils.better_cnn`) and the code that loads saved models
(`utils.saving`) can both import them without importing each other. Importing this module
registers them with Keras under the package name "cifar10_cnn", which is how a saved
`.keras` file finds them again.
"""
import keras
from keras import layers, ops

PACKAGE = "cifar10_cnn"


@keras.saving.register_keras_serializable(PACKAGE)
class ScaledBias(layers.Layer):
    """Adds a per-channel bias stored divided by `scale`, so it learns `scale**2` times faster.

    With SGD, storing b / s and multiplying by s multiplies the bias's gradient by s and its
    effect by s again: the same as a learning rate s**2 times larger, for this weight only.
    """

    def __init__(self, scale=1.0, regularizer=None, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.regularizer = keras.regularizers.get(regularizer)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer=self.initializer,
                                    regularizer=self.regularizer, name="bias")

    def call(self, x):
        return x + self.scale * self.bias

    def get_config(self):
        return {**super().get_config(), "scale": self.scale,
                "regularizer": keras.regularizers.serialize(self.regularizer),
                "initializer": keras.initializers.serialize(self.initializer)}


@keras.saving.register_keras_serializable(PACKAGE)
class HorizontalFlip(layers.Layer):
    """Mirrors images left-right (always; used for test-time augmentation)."""

    def call(self, images):
        return ops.flip(images, axis=2)


@keras.saving.register_keras_serializable(PACKAGE)
class ReflectShift(layers.Layer):
    """Shifts images by (dy, dx) pixels in -1..1, filling the border by reflection."""

    def __init__(self, dy, dx, **kwargs):
        super().__init__(**kwargs)
        self.dy, self.dx = dy, dx

    def call(self, images):
        padded = ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
        height, width = images.shape[1], images.shape[2]
        return padded[:, 1 + self.dy:1 + self.dy + height, 1 + self.dx:1 + self.dx + width, :]

    def get_config(self):
        return {**super().get_config(), "dy": self.dy, "dx": self.dx}


@keras.saving.register_keras_serializable(PACKAGE)
class TriangleSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate rising linearly from `start` x peak to the peak, then falling to `end` x peak."""

    def __init__(self, peak, total_steps, start=0.2, end=0.07, peak_fraction=0.23):
        self.peak, self.total_steps = peak, total_steps
        self.start, self.end, self.peak_fraction = start, end, peak_fraction

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak_step = self.peak_fraction * self.total_steps
        rising = self.start + (1 - self.start) * step / peak_step
        falling = 1 + (self.end - 1) * (step - peak_step) / (self.total_steps - peak_step)
        return self.peak * ops.where(step < peak_step, rising, ops.maximum(falling, self.end))

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "start": self.start,
                "end": self.end, "peak_fraction": self.peak_fraction}
