"""utils.recipe: the pieces of the better network's training recipe, each on a tiny example."""
import keras
import numpy as np
import pytest

from utils import better_cnn, recipe


def tiny_images(n=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def test_triangle_schedule_shape():
    schedule = recipe.TriangleSchedule(peak=2.0, total_steps=100)
    values = np.array([float(schedule(step)) for step in range(101)])
    assert values[0] == pytest.approx(0.4)          # starts at 0.2 x peak
    assert values.argmax() == 23 and values.max() == pytest.approx(2.0)
    assert values[100] == pytest.approx(0.14)       # ends at 0.07 x peak
    assert np.all(np.diff(values[:23]) > 0) and np.all(np.diff(values[23:]) < 0)

def test_sgd_hyperparameters_match_airbench_updates():
    lr, l2 = recipe.sgd_hyperparameters(batch_size=1024)
    kilostep = 1024 * (1 + 1 / 0.15)
    torch_lr = 11.5 / kilostep                     # airbench's lr on a summed loss
    assert lr == pytest.approx(torch_lr * 1024)    # Keras averages over the batch
    assert 2 * l2 * lr == pytest.approx(0.0153 * 1024 / kilostep)  # decay per step

def test_alternating_flips_show_each_image_both_ways():
    images = np.random.default_rng(0).integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    batches = recipe.AlternatingFlipTranslate(images, np.arange(8) % 10, batch_size=8,
                                                  translate=0)
    first = batches.epoch_images.copy()
    batches.on_epoch_end()
    np.testing.assert_array_equal(batches.epoch_images, first[:, :, ::-1])
    assert len(batches) == 1 and batches[0][1].shape == (8, 10)

def test_random_translate_shifts_by_at_most_pad():
    images = np.zeros((50, 8, 8, 1), dtype=np.uint8)
    images[:, 4, 4] = 255
    shifted = recipe.random_translate(images, 2, np.random.default_rng(0))
    rows, cols = np.nonzero(shifted[..., 0].max(axis=0))
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len(set(zip(rows, cols))) > 5

def test_muon_recipe_trains_kernels_and_freezes_whitening_bias_after_its_epochs(tmp_path):
    images, labels = tiny_images(128), np.arange(128) % 10
    network = better_cnn.build_network(images, widths=(8, 8, 8), precision="float32",
                                       recipe="airbench94_muon")
    batches = recipe.AlternatingFlipTranslate(images, labels, batch_size=32)
    recipe.compile_network_muon(network, len(batches), epochs=2, batch_size=32,
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


def test_random_flips_for_the_ablation_are_not_alternating():
    images = tiny_images(200)
    batches = recipe.AlternatingFlipTranslate(images, np.arange(200) % 10, batch_size=8,
                                              translate=0, alternating=False)
    first = batches.epoch_images.copy()
    batches.on_epoch_end()
    mirrored = np.all(batches.epoch_images == first[:, :, ::-1], axis=(1, 2, 3))
    assert 40 < mirrored.sum() < 160   # about half flipped, not all of them


def test_run_fingerprint_changes_with_any_setting_or_image():
    images, labels = tiny_images(8), np.arange(8)
    base = recipe.run_fingerprint((images, labels), None, seed=0, epochs=8)
    assert base == recipe.run_fingerprint((images.copy(), labels), None, seed=0, epochs=8)
    assert base != recipe.run_fingerprint((images, labels), None, seed=1, epochs=8)
    changed = images.copy()
    changed[0, 0, 0, 0] ^= 1
    assert base != recipe.run_fingerprint((changed, labels), None, seed=0, epochs=8)


def test_load_saved_run_only_for_the_same_fingerprint(tmp_path):
    path = tmp_path / "run.json"
    assert recipe.load_saved_run(path, "abc") is None
    path.write_text('{"fingerprint": "abc", "val_accuracy": 0.9}')
    assert recipe.load_saved_run(path, "abc")["val_accuracy"] == 0.9
    assert recipe.load_saved_run(path, "abd") is None


def test_unknown_recipe_is_refused_by_train(tmp_path):
    with pytest.raises(ValueError, match="recipe must be one of"):
        recipe.train(tiny_images(8), np.arange(8), tmp_path / "h.csv", recipe="sgd")


def test_first_padding_enters_the_settings_only_when_given():
    default = recipe.run_settings("float32", whitening=False)
    assert "first_padding" not in default  # so earlier runs keep their fingerprints
    assert recipe.run_settings("float32", whitening=False,
                               first_padding="valid")["first_padding"] == "valid"
    with pytest.raises(ValueError, match="unknown settings"):
        recipe.run_settings("float32", first_pading="valid")
