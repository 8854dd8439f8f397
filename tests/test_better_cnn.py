"""utils.better_cnn: the pieces of the airbench-style network, each on a tiny example."""
import keras
import numpy as np
import pytest

from utils import better_cnn


def test_whitening_kernels_decorrelate_patches():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(3, 3))
    images = rng.normal(size=(200, 32, 32, 3)) @ mixing  # correlated channels
    kernel = better_cnn.whitening_kernels(images, eps=0)
    assert kernel.shape == (2, 2, 3, 24)
    patches = np.stack([images[:, dy:dy + 31, dx:dx + 31] for dy in range(2) for dx in range(2)],
                       axis=3).reshape(-1, 12)
    responses = patches @ kernel.reshape(12, 24)[:, :12]
    np.testing.assert_allclose(np.cov(responses.T, bias=True), np.eye(12), atol=1e-2)


def test_scaled_bias_learns_faster_by_its_scale_squared():
    for scale in (1.0, 8.0):
        layer = better_cnn.ScaledBias(scale)
        x = keras.ops.zeros((1, 4))
        layer.build(x.shape)
        model = keras.Sequential([keras.Input((4,)), layer])
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        model.train_on_batch(np.zeros((1, 4)), np.ones((1, 4)))
        change = scale * keras.ops.convert_to_numpy(layer.bias)[0]
        if scale == 1.0:
            base_change = change
    assert change == pytest.approx(64 * base_change)


def test_flip_and_shift_layers():
    images = np.arange(2 * 4 * 4 * 1, dtype="float32").reshape(2, 4, 4, 1)
    flipped = keras.ops.convert_to_numpy(better_cnn.HorizontalFlip()(images))
    np.testing.assert_array_equal(flipped, images[:, :, ::-1])
    shifted = keras.ops.convert_to_numpy(better_cnn.ReflectShift(1, 1)(images))
    np.testing.assert_array_equal(shifted[:, :3, :3], images[:, 1:, 1:])


def test_test_time_augmentation_averages_mirrored_logits():
    inputs = keras.Input((32, 32, 3))
    # a "network" whose logits are the mean of the left half minus the right half
    left = keras.ops.mean(inputs[:, :, :16], axis=(1, 2, 3), keepdims=False)
    right = keras.ops.mean(inputs[:, :, 16:], axis=(1, 2, 3), keepdims=False)
    logits = keras.ops.stack([left - right] + [left * 0] * 9, axis=1)
    network = keras.Model(inputs, logits)
    image = np.zeros((1, 32, 32, 3), dtype="float32")
    image[:, :, :16] = 1.0
    probabilities = better_cnn.with_test_time_augmentation(network).predict(image, verbose=0)
    np.testing.assert_allclose(probabilities.sum(), 1.0, atol=1e-6)
    # mirror averaging cancels the left/right asymmetry: every class equally likely
    np.testing.assert_allclose(probabilities, np.full((1, 10), 0.1), atol=1e-3)


def test_identity_init_passes_channels_through():
    rng = np.random.default_rng(0)
    model = better_cnn.build_network(rng.integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8))
    conv = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)][2]
    kernel = keras.ops.convert_to_numpy(conv.kernel)
    assert kernel.shape == (3, 3, 64, 64)
    np.testing.assert_array_equal(kernel[1, 1], np.eye(64))
    assert np.count_nonzero(kernel) == 64


def test_batch_norm_keeps_six_tenths_of_the_old_statistics_as_airbench_does():
    network = better_cnn.build_network(None, widths=(8, 8, 8))
    momenta = {layer.momentum for layer in network.layers
               if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta == {0.6}


def tiny_images(n=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def test_muon_recipe_builds_airbench94_muon_head_and_biases():
    network = better_cnn.build_network(tiny_images(), widths=(8, 8, 16), precision="float32",
                                       recipe="airbench94_muon")
    assert network.get_layer("logits").scale == pytest.approx(1 / 16)
    head = network.layers[-2].kernel.numpy()
    assert np.abs(head).max() <= 3 ** 0.5 and head.std() > 0.7   # uniform(+-sqrt(3)): std 1
    whitening_bias = network.get_layer("whitening_bias").bias.numpy()
    assert np.abs(whitening_bias).max() <= 12 ** -0.5 and np.abs(whitening_bias).max() > 0.05
    for layer in network.layers:
        if isinstance(layer, better_cnn.ScaledBias):
            assert layer.scale == 1.0
            assert layer.regularizer.l2 == pytest.approx(1.8868e-5, rel=1e-4)
        if isinstance(layer, keras.layers.Conv2D):
            assert layer.kernel_regularizer is None


def test_unknown_recipe_is_refused():
    with pytest.raises(ValueError, match="recipe must be one of"):
        better_cnn.build_network(None, recipe="airbench95")


def test_ablation_switches_remove_whitening_and_identity_init():
    plain = better_cnn.build_network(tiny_images(), widths=(8, 8, 8), precision="float32",
                                     whitening=False, identity=False)
    assert "whitening" not in [layer.name for layer in plain.layers]
    first = [layer for layer in plain.layers if isinstance(layer, keras.layers.Conv2D)][0]
    assert first.trainable and first.kernel_size == (2, 2)
    conv = [layer for layer in plain.layers if isinstance(layer, keras.layers.Conv2D)][2]
    assert not np.array_equal(keras.ops.convert_to_numpy(conv.kernel)[1, 1], np.eye(8))


def test_first_padding_sets_the_map_sizes_without_whitening():
    sizes = {}
    for padding in ("same", "valid"):
        network = better_cnn.build_network(tiny_images(), widths=(8, 8, 8), precision="float32",
                                           whitening=False, first_padding=padding)
        first = [layer for layer in network.layers if isinstance(layer, keras.layers.Conv2D)][0]
        sizes[padding] = first.output.shape[1]
    with_whitening = better_cnn.build_network(tiny_images(), widths=(8, 8, 8),
                                              precision="float32")
    assert sizes == {"same": 32,
                     "valid": with_whitening.get_layer("whitening").output.shape[1]}
    assert sizes["valid"] == 31
