"""utils.convolution: the NumPy forward pass agrees with Keras' Conv2D and MaxPooling2D."""
import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers, ops  # noqa: E402
from scipy import signal  # noqa: E402

from utils import convolution, models  # noqa: E402


def keras_conv(images, weights, bias, stride, padding):
    """Keras' Conv2D on a batch, with the given weights and biases."""
    layer = layers.Conv2D(weights.shape[-1], weights.shape[:2], strides=stride, padding=padding)
    layer.build(images.shape)
    layer.set_weights([weights, bias])
    return ops.convert_to_numpy(layer(images))


# (padding, stride, in_channels, out_channels, image size, kernel size)
CASES = [
    ("valid", 1, 1, 1, 8, 3),
    ("same", 1, 3, 4, 9, 3),
    ("valid", 2, 3, 2, 9, 3),
    ("same", 2, 3, 5, 8, 3),   # even size, stride 2: Keras pads 0 on top, 1 at the bottom
    ("same", 2, 2, 3, 9, 5),
    ("same", 3, 1, 2, 10, 3),
    ("valid", 1, 4, 3, 7, 1),
    ("same", 1, 2, 2, 6, 4),   # even kernel: asymmetric even at stride 1
]


@pytest.mark.parametrize("padding, stride, in_channels, out_channels, size, kernel_size", CASES)
def test_conv2d_matches_keras(padding, stride, in_channels, out_channels, size, kernel_size):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, size, size, in_channels)).astype("float32")
    kernels = rng.normal(size=(kernel_size, kernel_size, in_channels, out_channels)).astype("float32")
    bias = rng.normal(size=out_channels).astype("float32")
    expected = keras_conv(images, kernels, bias, stride, padding)
    ours = np.stack([convolution.conv2d(image, kernels, bias, stride, padding) for image in images])
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_a_small_example_by_hand():
    # 0·0 + 1·1 + 3·2 + 4·3 = 19, and so on (d2l's corr2d example)
    image = np.arange(9.0).reshape(3, 3, 1)
    kernel = np.array([[0.0, 1.0], [2.0, 3.0]]).reshape(2, 2, 1, 1)
    output = convolution.conv2d(image, kernel)[:, :, 0]
    np.testing.assert_array_equal(output, [[19, 25], [37, 43]])


def test_it_is_cross_correlation_not_flipped_convolution():
    rng = np.random.default_rng(1)
    image, kernel = rng.normal(size=(6, 7)), rng.normal(size=(3, 3))
    ours = convolution.conv2d(image[:, :, None], kernel[:, :, None, None])[:, :, 0]
    np.testing.assert_allclose(ours, signal.correlate2d(image, kernel, mode="valid"))
    assert not np.allclose(ours, signal.convolve2d(image, kernel, mode="valid"))


def test_integer_padding_adds_zeros_on_every_side():
    rng = np.random.default_rng(2)
    image, kernels = rng.normal(size=(5, 5, 2)), rng.normal(size=(3, 3, 2, 3))
    padded_by_hand = np.pad(image, ((2, 2), (2, 2), (0, 0)))
    np.testing.assert_allclose(convolution.conv2d(image, kernels, padding=2),
                               convolution.conv2d(padded_by_hand, kernels, padding=0))
    assert convolution.conv2d(image, kernels, padding=2).shape == (7, 7, 3)


def test_symmetric_padding_differs_from_keras_same_at_stride_2():
    rng = np.random.default_rng(3)
    image, kernels = rng.normal(size=(8, 8, 1)), rng.normal(size=(3, 3, 1, 1))
    symmetric = convolution.conv2d(image, kernels, stride=2, padding=1)
    same = convolution.conv2d(image, kernels, stride=2, padding="same")
    assert symmetric.shape == same.shape == (4, 4, 1)
    assert not np.allclose(symmetric, same)


@pytest.mark.parametrize("size, kernel_size, stride, expected", [
    (32, 3, 1, (1, 1)), (32, 3, 2, (0, 1)), (33, 3, 2, (1, 1)), (6, 4, 1, (1, 2)), (5, 1, 1, (0, 0)),
])
def test_same_padding(size, kernel_size, stride, expected):
    assert convolution.same_padding(size, kernel_size, stride) == expected


def test_bad_arguments_are_refused():
    image, kernels = np.zeros((5, 5, 3)), np.zeros((3, 3, 2, 1))
    with pytest.raises(ValueError, match="channels"):
        convolution.conv2d(image, kernels)
    with pytest.raises(ValueError, match="padding"):
        convolution.conv2d(image, np.zeros((3, 3, 3, 1)), padding="full")


@pytest.mark.parametrize("size, kernel_size, padding, stride", [
    (32, 3, 0, 1), (32, 3, 1, 1), (32, 5, 2, 1), (32, 3, 1, 2), (31, 3, 0, 2), (32, 7, 3, 2),
    (28, 5, 0, 3),
])
def test_output_size_matches_keras_shapes(size, kernel_size, padding, stride):
    # Keras knows "valid" (no zeros) and "same" (for odd kernels at stride 1: (k-1)/2 zeros)
    keras_padding = "valid" if padding == 0 else "same"
    layer = layers.Conv2D(1, kernel_size, strides=stride, padding=keras_padding)
    keras_size = layer.compute_output_shape((1, size, size, 1))[1]
    assert convolution.output_size(size, kernel_size, padding, stride) == keras_size


@pytest.mark.parametrize("kernel_size, in_channels, out_channels", [(3, 3, 64), (3, 64, 128), (5, 16, 32), (1, 8, 4)])
def test_conv_param_count_matches_keras(kernel_size, in_channels, out_channels):
    layer = layers.Conv2D(out_channels, kernel_size)
    layer.build((None, 32, 32, in_channels))
    assert convolution.conv_param_count(kernel_size, in_channels, out_channels) == layer.count_params()
    no_bias = layers.Conv2D(out_channels, kernel_size, use_bias=False)
    no_bias.build((None, 32, 32, in_channels))
    assert (convolution.conv_param_count(kernel_size, in_channels, out_channels, bias=False)
            == no_bias.count_params())


def test_first_layer_of_the_baseline_has_1792_parameters():
    first_conv = next(layer for layer in models.build_baseline_cnn().layers
                      if isinstance(layer, layers.Conv2D))
    assert first_conv.count_params() == convolution.conv_param_count(3, 3, 64) == 1_792


@pytest.mark.parametrize("size, pool_size, stride", [(8, 2, None), (7, 2, None), (9, 3, 2), (6, 3, 3)])
def test_max_pool2d_matches_keras(size, pool_size, stride):
    maps = np.random.default_rng(4).normal(size=(size, size, 3)).astype("float32")
    expected = ops.convert_to_numpy(
        layers.MaxPooling2D(pool_size, strides=stride)(maps[None]))[0]
    ours = convolution.max_pool2d(maps, pool_size, stride)
    assert ours.shape == expected.shape
    np.testing.assert_array_equal(ours, expected)


def test_relu():
    np.testing.assert_array_equal(convolution.relu(np.array([-2.0, -0.0, 0.5, 3.0])),
                                  [0.0, 0.0, 0.5, 3.0])


def test_conv_relu_pool_chain_matches_a_keras_model():
    rng = np.random.default_rng(5)
    image = rng.uniform(size=(12, 12, 3)).astype("float32")
    kernels = rng.normal(size=(3, 3, 3, 4)).astype("float32")
    bias = rng.normal(size=4).astype("float32")
    model = keras.Sequential([keras.Input((12, 12, 3)),
                              layers.Conv2D(4, 3, padding="same", activation="relu"),
                              layers.MaxPooling2D(2)])
    model.layers[0].set_weights([kernels, bias])
    expected = ops.convert_to_numpy(model(image[None]))[0]
    ours = convolution.max_pool2d(convolution.relu(
        convolution.conv2d(image, kernels, bias, padding="same")))
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_conv2d_is_linear_without_bias_and_affine_with_it():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 7, 2)), rng.normal(size=(7, 7, 2))
    weights, bias = rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3)
    np.testing.assert_allclose(convolution.conv2d(2 * x + y, weights),
                               2 * convolution.conv2d(x, weights) + convolution.conv2d(y, weights))
    with_bias = convolution.conv2d(x, weights, bias)
    np.testing.assert_allclose(with_bias, convolution.conv2d(x, weights) + bias)
    # affine: f(x) + f(-x) = 2 f(0); a ReLU in between breaks it
    f0 = convolution.conv2d(np.zeros_like(x), weights, bias)
    np.testing.assert_allclose(with_bias + convolution.conv2d(-x, weights, bias), 2 * f0)
    weights_2, bias_2 = rng.normal(size=(3, 3, 3, 1)), rng.normal(size=1)

    def relu_net(z):
        return convolution.conv2d(convolution.relu(convolution.conv2d(z, weights, bias)),
                                  weights_2, bias_2)

    assert not np.allclose(relu_net(x) + relu_net(-x), 2 * relu_net(np.zeros_like(x)))


def test_two_convolutions_combine_into_one_with_the_full_convolution_of_the_kernels():
    rng = np.random.default_rng(7)
    image = rng.normal(size=(9, 9, 1))
    k1, k2 = rng.normal(size=(3, 3, 1, 1)), rng.normal(size=(3, 3, 1, 1))
    b1, b2 = np.array([0.3]), np.array([-0.1])
    two = convolution.conv2d(convolution.conv2d(image, k1, b1), k2, b2)
    combined = signal.convolve2d(k1[:, :, 0, 0], k2[:, :, 0, 0])[:, :, None, None]
    np.testing.assert_allclose(two, convolution.conv2d(image, combined, b1 * k2.sum() + b2))


def test_max_pool_ignores_a_shift_inside_its_window_only():
    def pooled_dot(row, col):
        dot = np.zeros((4, 4, 1))
        dot[row, col] = 1
        return convolution.max_pool2d(dot)
    np.testing.assert_array_equal(pooled_dot(0, 0), pooled_dot(1, 1))
    assert not np.array_equal(pooled_dot(0, 0), pooled_dot(0, 2))


def test_diagrams_draw():
    fig = convolution.draw_sliding_windows()
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == [
        "3×3 kernel, padding 1, stride 1 → 5×5 output", "3×3 kernel, padding 1, stride 2 → 3×3 output"]
    plt.close(fig)
    fig = convolution.draw_channels(in_channels=3, out_channels=2)
    assert len(fig.axes) == 1
    plt.close(fig)
    fig = convolution.show_maps([np.zeros((4, 4)), np.ones((4, 4, 3)) / 2], ["a", "b"])
    assert len(fig.axes) == 2
    plt.close(fig)


def test_show_maps_scales_and_colour_bars():
    signed = np.array([[-1.0, 0.5], [0.25, 0.0]])
    fig = convolution.show_maps([signed, np.abs(signed), np.ones((2, 2, 3)) / 2], ["s", "a", "rgb"],
                                limit=2.0, colorbar=True)
    assert len(fig.axes) == 3 + 2  # a colour bar for each grey map, none for the colour image
    signed_image, positive_image = fig.axes[0].images[0], fig.axes[1].images[0]
    assert signed_image.get_clim() == (-2.0, 2.0)   # 0 at mid-grey
    assert positive_image.get_clim() == (0.0, 1.0)  # black = 0, white = the maximum
    assert fig.axes[0].spines["left"].get_visible()  # a frame, so light borders stay visible
    plt.close(fig)
