"""Looking inside a trained network: feature maps, Grad-CAM, and accuracy under image shifts.

Introduced in 12_looking_inside. Grad-CAM needs gradients, which each Keras backend computes
its own way; `grad_cam` uses TensorFlow's GradientTape (this project's backend).
"""
import keras
import numpy as np
from keras import ops
from scipy import ndimage


def feature_maps(model, images, layer_names):
    """The outputs of the named layers of `model` for `images`, as NumPy arrays."""
    outputs = [model.get_layer(name).output for name in layer_names]
    probe = keras.Model(model.input, outputs)
    results = probe(np.asarray(images), training=False)
    if len(outputs) == 1:  # a model with one output returns a tensor, not a list
        results = [results]
    return [ops.convert_to_numpy(maps) for maps in results]


def grad_cam(model, images, layer_name, class_indices=None):
    """Grad-CAM heatmaps: where in each image the evidence for a class comes from.

    The feature maps A of `layer_name` are weighted by the average gradient of the class
    score with respect to each map, summed, passed through ReLU, and scaled to 0-1; then
    resized to the image size. `model` should output logits or probabilities; the class is
    `class_indices[i]`, or the predicted class when None. Returns `(N, height, width)`.
    """
    import tensorflow as tf

    probe = keras.Model(model.input, [model.get_layer(layer_name).output, model.output])
    images = ops.convert_to_tensor(np.asarray(images))
    with tf.GradientTape() as tape:
        maps, scores = probe(images, training=False)
        scores = ops.cast(scores, "float32")
        if class_indices is None:
            class_indices = ops.argmax(scores, axis=-1)
        chosen = ops.take_along_axis(scores, ops.reshape(class_indices, (-1, 1)), axis=1)
    # A mixed-precision network computes in bfloat16: do the rest in float32.
    gradients = ops.cast(tape.gradient(chosen, maps), "float32")
    maps = ops.cast(maps, "float32")
    weights = ops.mean(gradients, axis=(1, 2), keepdims=True)  # one weight per channel
    heatmaps = ops.relu(ops.sum(weights * maps, axis=-1))
    peak = ops.max(heatmaps, axis=(1, 2), keepdims=True)
    heatmaps = heatmaps / ops.maximum(peak, 1e-8)
    size = images.shape[1:3]
    resized = ops.image.resize(heatmaps[..., None], size, interpolation="bilinear")[..., 0]
    return np.clip(ops.convert_to_numpy(resized), 0.0, 1.0)


# --- Shifted test images ------------------------------------------------------------------

def brightness(images, amount):
    """Add `amount` (in 0-255 units) to every pixel."""
    return np.clip(images.astype(np.float32) + amount, 0, 255).astype(np.uint8)


def contrast(images, factor):
    """Scale each image's pixels around its own mean by `factor` (< 1: flatter)."""
    images = images.astype(np.float32)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(mean + factor * (images - mean), 0, 255).astype(np.uint8)


def gaussian_noise(images, std, seed=0):
    """Add independent Gaussian noise of standard deviation `std` (0-255 units) to each pixel."""
    noise = np.random.default_rng(seed).normal(0, std, size=images.shape)
    return np.clip(images.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def blur(images, sigma):
    """Gaussian blur of `sigma` pixels, in space only (not across images or colours)."""
    if sigma == 0:
        return images.copy()
    blurred = ndimage.gaussian_filter(images.astype(np.float32), sigma=(0, sigma, sigma, 0))
    return np.clip(np.round(blurred), 0, 255).astype(np.uint8)


def rotate(images, degrees):
    """Rotate every image by `degrees` about its centre, borders filled by reflection."""
    if degrees == 0:
        return images.copy()
    rotated = ndimage.rotate(images.astype(np.float32), degrees, axes=(1, 2), reshape=False,
                             order=1, mode="reflect")
    return np.clip(np.round(rotated), 0, 255).astype(np.uint8)


SHIFTS = {
    "brightness": (brightness, [-60, -30, 30, 60]),
    "contrast": (contrast, [0.3, 0.6, 1.5]),
    "gaussian noise": (gaussian_noise, [5, 10, 20]),
    "blur": (blur, [0.5, 1.0, 1.5]),
    "rotation": (rotate, [5, 10, 20]),
}

# What each shift's strength measures, for axis labels.
SHIFT_UNITS = {
    "brightness": "added to each pixel\n(0–255 scale)",
    "contrast": "contrast factor\n(1 = unchanged)",
    "gaussian noise": "noise σ\n(0–255 scale)",
    "blur": "blur σ\n(pixels)",
    "rotation": "angle\n(degrees)",
}


def describe_shift(name, strength):
    """A short label for one shift at one strength, with its unit: "blur σ = 1.5 px"."""
    formats = {"brightness": "brightness {:+g}", "contrast": "contrast ×{:g}",
               "gaussian noise": "noise σ = {:g}", "blur": "blur σ = {:g} px",
               "rotation": "rotation {:g}°"}
    return formats[name].format(strength)


def last_conv_layer(model, min_size=1):
    """The name of the last Conv2D layer whose output is at least `min_size` pixels wide.

    Grad-CAM's heatmap has this layer's resolution: a later layer knows more about the
    class, an earlier one says more precisely where.
    """
    names = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
             and layer.output.shape[1] >= min_size]
    if not names:
        raise ValueError(f"{model.name} has no Conv2D layer with outputs of {min_size}+ pixels")
    return names[-1]


def inner_network(model):
    """The network inside a wrapper model (such as the test-time augmentation of 11), or model."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return nested[0] if nested else model
