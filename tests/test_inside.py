"""utils.inside: Grad-CAM's shape and range, feature maps, and the image shifts."""
import keras
import numpy as np
import pytest
from keras import layers

from utils import inside


def build_tiny_cnn():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
    x = layers.MaxPooling2D(4)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def tiny_cnn():
    return build_tiny_cnn()


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3)).astype(np.uint8)


def test_grad_cam_shape_and_range(tiny_cnn, images):
    heatmaps = inside.grad_cam(tiny_cnn, images, "conv")
    assert heatmaps.shape == (3, 32, 32)
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1
    assert np.isclose(heatmaps.reshape(3, -1).max(axis=1), 1, atol=0.05).any()


def test_grad_cam_on_a_bfloat16_network(images):
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        network = build_tiny_cnn()
    finally:
        keras.config.set_dtype_policy("float32")
    heatmaps = inside.grad_cam(network, images, "conv")
    assert heatmaps.shape == (3, 32, 32) and heatmaps.dtype == np.float32
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1


def test_grad_cam_for_a_chosen_class_differs_from_another(tiny_cnn, images):
    first = inside.grad_cam(tiny_cnn, images, "conv", class_indices=np.array([0, 0, 0]))
    second = inside.grad_cam(tiny_cnn, images, "conv", class_indices=np.array([5, 5, 5]))
    assert first.shape == second.shape and not np.allclose(first, second)


def test_feature_maps_shapes(tiny_cnn, images):
    (maps,) = inside.feature_maps(tiny_cnn, images, ["conv"])
    assert maps.shape == (3, 32, 32, 4) and (maps >= 0).all()  # after ReLU


@pytest.mark.parametrize("name", inside.SHIFTS)
def test_shifts_keep_shape_and_dtype_and_change_the_images(name, images):
    shift, severities = inside.SHIFTS[name]
    shifted = shift(images, severities[-1])
    assert shifted.shape == images.shape and shifted.dtype == np.uint8
    assert not np.array_equal(shifted, images)


def test_mild_shifts_do_nothing_at_zero(images):
    assert np.array_equal(inside.brightness(images, 0), images)
    assert np.array_equal(inside.contrast(images, 1.0), images)
    assert np.array_equal(inside.blur(images, 0), images)
    assert np.array_equal(inside.rotate(images, 0), images)


def test_brightness_and_contrast_move_pixels_the_right_way():
    grey = np.full((1, 4, 4, 3), 100, np.uint8)
    grey[0, 0, 0] = 200
    assert inside.brightness(grey, 30).min() == 130
    flatter = inside.contrast(grey, 0.5)
    assert np.ptp(flatter) < np.ptp(grey)


def test_last_conv_layer_and_inner_network(tiny_cnn):
    assert inside.last_conv_layer(tiny_cnn) == "conv"
    with pytest.raises(ValueError, match="no Conv2D"):
        inside.last_conv_layer(tiny_cnn, min_size=64)
    wrapper_input = keras.Input((32, 32, 3))
    wrapper = keras.Model(wrapper_input, layers.Softmax()(tiny_cnn(wrapper_input)))
    assert inside.inner_network(wrapper) is tiny_cnn
    assert inside.inner_network(tiny_cnn) is tiny_cnn


def test_every_shift_has_a_unit_and_a_label():
    assert set(inside.SHIFT_UNITS) == set(inside.SHIFTS)
    labels = {name: inside.describe_shift(name, severities[-1])
              for name, (_, severities) in inside.SHIFTS.items()}
    assert labels == {"brightness": "brightness +60", "contrast": "contrast ×1.5",
                      "gaussian noise": "noise σ = 20", "blur": "blur σ = 1.5 px",
                      "rotation": "rotation 20°"}
