"""utils.saving: the project's models load by rebuilding them and reading only their weights."""
import json
import zipfile

import keras
import numpy as np
import pytest

from utils import better_cnn, models, saving


def images(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def saved_baseline(tmp_path, seed=1):
    keras.utils.set_random_seed(seed)
    model = models.compile_baseline(models.build_baseline_cnn())
    path = tmp_path / "baseline_cnn.keras"
    model.save(path)
    return model, path


def test_baseline_is_rebuilt_and_predicts_as_saved(tmp_path, monkeypatch):
    model, path = saved_baseline(tmp_path)

    def no_full_load(*args, **kwargs):
        raise AssertionError("the baseline must be rebuilt, not deserialised")
    monkeypatch.setattr(keras.models, "load_model", no_full_load)
    loaded = saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(images(), verbose=0),
                               model.predict(images(), verbose=0), atol=1e-6)
    loss, accuracy = loaded.evaluate(images(), np.arange(4), verbose=0)  # compiled for evaluate
    assert 0 <= accuracy <= 1


def test_better_network_is_rebuilt_with_its_saved_precision(tmp_path):
    keras.utils.set_random_seed(2)
    network = better_cnn.build_network(images(64), widths=(8, 8, 8), precision="float32")
    # Saved under the name the project uses, but smaller: the rebuild must notice the mismatch
    # and fall back to the full load, which this Keras can do.
    tta = better_cnn.with_test_time_augmentation(network)
    path = tmp_path / "best_cnn.keras"
    tta.save(path)
    loaded = saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(images(), verbose=0),
                               tta.predict(images(), verbose=0), atol=1e-5)


def test_full_size_better_network_round_trip(tmp_path):
    keras.utils.set_random_seed(3)
    tta = better_cnn.with_test_time_augmentation(better_cnn.build_network(images(64)))
    path = tmp_path / "best_cnn.keras"
    tta.save(path)
    assert saving.saved_precision(saving.saved_config(path)) == "mixed_bfloat16"
    loaded = saving.load_model(path, precision="float32")
    assert loaded.layers[-2].dtype_policy.name == "float32" or "float32" in str(loaded.dtype_policy)
    # bfloat16 in the saved model, float32 in the rebuilt one: close, not identical.
    np.testing.assert_allclose(loaded.predict(images(), verbose=0),
                               tta.predict(images(), verbose=0), atol=0.05)


def test_unknown_model_is_loaded_whole(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="my_experiment")
    path = tmp_path / "my_experiment.keras"
    model.save(path)
    loaded = saving.load_model(path)
    assert loaded.name == "my_experiment"


def test_missing_file_says_which_notebook_makes_it(tmp_path):
    with pytest.raises(saving.ModelFileError, match="06_training"):
        saving.load_model(tmp_path / "baseline_cnn.keras")


def test_damaged_file_says_what_to_do(tmp_path):
    path = tmp_path / "baseline_cnn.keras"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(saving.ModelFileError, match="damaged"):
        saving.load_model(path)


def test_config_from_a_newer_keras_still_loads(tmp_path):
    """A setting this Keras does not know (as Keras 3.15's `input_axes` is to Keras 3.8)."""
    model, path = saved_baseline(tmp_path)
    newer = tmp_path / "newer" / "baseline_cnn.keras"
    newer.parent.mkdir()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(newer, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(content)
                for layer in config["config"]["layers"]:
                    layer["config"]["setting_from_the_future"] = True
                content = json.dumps(config)
            target.writestr(item, content)
    with pytest.raises(Exception):
        keras.models.load_model(newer)
    loaded = saving.load_model(newer)
    np.testing.assert_allclose(loaded.predict(images(), verbose=0),
                               model.predict(images(), verbose=0), atol=1e-6)


def test_muon_recipe_network_is_rebuilt_with_its_recipe(tmp_path):
    keras.utils.set_random_seed(4)
    network = better_cnn.build_network(images(64), precision="float32", recipe="airbench94_muon")
    tta = better_cnn.with_test_time_augmentation(network)
    path = tmp_path / "best_cnn.keras"
    tta.save(path)
    assert saving.saved_recipe(saving.saved_config(path)) == "airbench94_muon"
    loaded = saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(images(), verbose=0),
                               tta.predict(images(), verbose=0), atol=1e-5)


def test_committed_better_network_is_read_as_the_airbench94_muon_recipe():
    path = saving.Path(__file__).resolve().parents[1] / "models" / "best_cnn.keras"
    assert saving.saved_recipe(saving.saved_config(path)) == "airbench94_muon"


@pytest.mark.parametrize("first_padding", ["same", "valid"])
def test_network_without_whitening_is_rebuilt_without_it(tmp_path, monkeypatch, first_padding):
    """Notebook 11's final recipe trains its first 2x2 layer instead of whitening."""
    keras.utils.set_random_seed(5)
    network = better_cnn.build_network(images(64), precision="float32", recipe="airbench94_muon",
                                       whitening=False, first_padding=first_padding)
    tta = better_cnn.with_test_time_augmentation(network)
    path = tmp_path / "best_cnn.keras"
    tta.save(path)
    assert not saving.saved_whitening(saving.saved_config(path))
    assert saving.saved_first_padding(saving.saved_config(path)) == first_padding

    def no_full_load(*args, **kwargs):
        raise AssertionError("the better network must be rebuilt, not deserialised")
    monkeypatch.setattr(keras.models, "load_model", no_full_load)
    loaded = saving.load_model(path)
    inner = [layer for layer in loaded.layers if isinstance(layer, keras.Model)][0]
    assert "whitening" not in [layer.name for layer in inner.layers]
    np.testing.assert_allclose(loaded.predict(images(), verbose=0),
                               tta.predict(images(), verbose=0), atol=1e-5)


def test_committed_better_network_is_read_as_the_final_recipe_without_whitening():
    path = saving.Path(__file__).resolve().parents[1] / "models" / "best_cnn.keras"
    assert not saving.saved_whitening(saving.saved_config(path))
    assert saving.saved_first_padding(saving.saved_config(path)) == "same"
