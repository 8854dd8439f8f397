"""utils.better_cnn: the pieces of the airbench-style recipe, each on a tiny example."""
import keras
import numpy as np
import pytest

from utils import better_cnn


def test_triangle_schedule_shape():
    schedule = better_cnn.TriangleSchedule(peak=2.0, total_steps=100)
    values = np.array([float(schedule(step)) for step in range(101)])
    assert values[0] == pytest.approx(0.4)          # starts at 0.2 x peak
    assert values.argmax() == 23 and values.max() == pytest.approx(2.0)
    assert values[100] == pytest.approx(0.14)       # ends at 0.07 x peak
    assert np.all(np.diff(values[:23]) > 0) and np.all(np.diff(values[23:]) < 0)


def test_sgd_hyperparameters_match_airbench_updates():
    lr, l2 = better_cnn.sgd_hyperparameters(batch_size=1024)
    kilostep = 1024 * (1 + 1 / 0.15)
    torch_lr = 11.5 / kilostep                     # airbench's lr on a summed loss
    assert lr == pytest.approx(torch_lr * 1024)    # Keras averages over the batch
    assert 2 * l2 * lr == pytest.approx(0.0153 * 1024 / kilostep)  # decay per step


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


def test_alternating_flips_show_each_image_both_ways():
    images = np.random.default_rng(0).integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    batches = better_cnn.AlternatingFlipTranslate(images, np.arange(8) % 10, batch_size=8,
                                                  translate=0)
    first = batches.epoch_images.copy()
    batches.on_epoch_end()
    np.testing.assert_array_equal(batches.epoch_images, first[:, :, ::-1])
    assert len(batches) == 1 and batches[0][1].shape == (8, 10)


def test_random_translate_shifts_by_at_most_pad():
    images = np.zeros((50, 8, 8, 1), dtype=np.uint8)
    images[:, 4, 4] = 255
    shifted = better_cnn.random_translate(images, 2, np.random.default_rng(0))
    rows, cols = np.nonzero(shifted[..., 0].max(axis=0))
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len(set(zip(rows, cols))) > 5


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


def test_muon_recipe_trains_kernels_and_freezes_whitening_bias_after_its_epochs(tmp_path):
    images, labels = tiny_images(128), np.arange(128) % 10
    network = better_cnn.build_network(images, widths=(8, 8, 8), precision="float32",
                                       recipe="airbench94_muon")
    batches = better_cnn.AlternatingFlipTranslate(images, labels, batch_size=32)
    better_cnn.compile_network_muon(network, len(batches), epochs=2, batch_size=32,
                                    whitening_bias_epochs=1)
    kernels = [layer.kernel for layer in network.layers
               if isinstance(layer, keras.layers.Conv2D) and layer.trainable]
    before = [kernel.numpy().copy() for kernel in kernels]
    bias = network.get_layer("whitening_bias").bias
    initial_bias = bias.numpy().copy()
    network.fit(batches, epochs=1, verbose=0)
    after_one_epoch = bias.numpy().copy()
    network.fit(batches, epochs=1, verbose=0)
    assert not np.allclose(after_one_epoch, initial_bias)     # trained during its epoch
    np.testing.assert_array_equal(bias.numpy(), after_one_epoch)  # frozen afterwards
    for old, kernel in zip(before, kernels):
        assert not np.allclose(old, kernel.numpy())
        # Muon rescales each kernel to norm sqrt(output channels) before its step
        assert np.linalg.norm(kernel.numpy()) == pytest.approx(kernel.shape[-1] ** 0.5, rel=0.2)
