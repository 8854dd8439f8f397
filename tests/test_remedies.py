"""utils.remedies: augmentation only in training, the schedule's shape, the switches."""
import keras
import numpy as np
import pandas as pd
import pytest

from utils import remedies


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(8, 32, 32, 3)).astype("float32")


def test_augmentation_changes_images_only_in_training(images):
    augment = remedies.augmentation(seed=1)
    np.testing.assert_array_equal(np.asarray(augment(images, training=False)), images)
    changed = np.asarray(augment(images, training=True))
    assert changed.shape == images.shape
    assert not np.allclose(changed, images)


def test_augmented_model_predicts_deterministically():
    model = remedies.build_cnn(augment=True)
    batch = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3)).astype("uint8")
    first = model.predict(batch, verbose=0)
    np.testing.assert_allclose(model.predict(batch, verbose=0), first, rtol=1e-5)


def test_one_cycle_warms_up_then_decays_to_zero():
    rates = remedies.learning_rates(remedies.one_cycle(1e-2, total_steps=100), 100)
    peak = rates.argmax()
    assert peak == 20
    assert rates[peak] == pytest.approx(1e-2)
    assert rates[0] == pytest.approx(1e-2 / 25)
    assert (np.diff(rates[:peak + 1]) > 0).all() and (np.diff(rates[peak:]) <= 0).all()
    assert rates[-1] == pytest.approx(0, abs=1e-9)


def test_switches_add_layers_and_penalties():
    plain = remedies.build_cnn()
    everything = remedies.build_cnn(augment=True, dropout=True, l2=1e-4)
    assert "augmentation" not in [layer.name for layer in plain.layers]
    assert "augmentation" in [layer.name for layer in everything.layers]
    rates = [layer.rate for layer in everything.layers if layer.__class__.__name__ == "Dropout"]
    assert rates == [0.25, 0.25, 0.25, 0.5]
    assert len(plain.losses) == 0 and len(everything.losses) == 6  # one per kernel
    assert plain.count_params() == everything.count_params()


def test_compile_chooses_adamw_for_weight_decay():
    model = remedies.compile_cnn(remedies.build_cnn(), weight_decay=0.05, label_smoothing=0.1)
    assert model.optimizer.__class__.__name__ == "AdamW"
    assert model.loss.label_smoothing == 0.1


def tiny_run(seed=0):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(16, 32, 32, 3)).astype("uint8")
    y = rng.integers(0, 10, size=16)
    keras.utils.set_random_seed(seed)
    return remedies.compile_cnn(remedies.build_cnn()), (x, y)


def test_train_variant_reuses_only_the_same_run(tmp_path, capsys):
    path = tmp_path / "plain.csv"
    model, (x, y) = tiny_run()
    history = remedies.train_variant(model, (x, y), (x, y), path, epochs=2, batch_size=8)
    assert history["epoch"].tolist() == [1, 2]
    assert (tmp_path / "plain.run.json").is_file()
    model, _ = tiny_run()
    again = remedies.train_variant(model, (x, y), (x, y), path, epochs=2, batch_size=8)
    assert again.equals(history)
    assert "reusing the saved history of this exact run" in capsys.readouterr().out


@pytest.mark.parametrize("change", ["seed", "option", "epochs", "data"])
def test_a_changed_run_trains_again(tmp_path, capsys, change):
    path = tmp_path / "plain.csv"
    model, (x, y) = tiny_run()
    remedies.train_variant(model, (x, y), (x, y), path, epochs=1, batch_size=8)
    capsys.readouterr()
    model, _ = tiny_run(seed=1 if change == "seed" else 0)
    if change == "option":
        model = remedies.compile_cnn(remedies.build_cnn(dropout=True))
    epochs = 2 if change == "epochs" else 1
    data = (x[:8], y[:8]) if change == "data" else (x, y)
    history = remedies.train_variant(model, data, (x, y), path, epochs=epochs, batch_size=8)
    assert "reusing" not in capsys.readouterr().out
    assert len(history) == epochs


def test_a_history_without_its_run_file_is_not_trusted(tmp_path, capsys):
    path = tmp_path / "plain.csv"
    model, (x, y) = tiny_run()
    remedies.train_variant(model, (x, y), (x, y), path, epochs=1, batch_size=8)
    (tmp_path / "plain.run.json").unlink()  # as the histories committed before run files
    capsys.readouterr()
    model, _ = tiny_run()
    remedies.train_variant(model, (x, y), (x, y), path, epochs=1, batch_size=8)
    assert "reusing" not in capsys.readouterr().out



def fake_history(val_accuracies, train_accuracy=0.9):
    n = len(val_accuracies)
    return pd.DataFrame({"epoch": range(1, n + 1), "accuracy": [train_accuracy] * n,
                         "val_accuracy": val_accuracies, "val_loss": [1.0] * n})


def test_final_score_averages_the_last_epochs_not_the_best():
    history = fake_history([0.2, 0.9, 0.5, 0.6, 0.7])
    assert remedies.final_score(history, last=3) == pytest.approx(0.6)


def test_summarize_gives_mean_spread_and_extremes_over_seeds():
    histories = {"a": {0: fake_history([0.5, 0.6]), 1: fake_history([0.7, 0.8]),
                       2: fake_history([0.6, 0.7])},
                 "b": {0: fake_history([0.1, 0.3], train_accuracy=0.4)}}
    table = remedies.summarize_seeds(histories, last=2)
    assert table.loc["a", "val accuracy"] == pytest.approx(0.65)
    assert table.loc["a", "std over seeds"] == pytest.approx(0.1)
    assert table.loc["a", "val loss"] == pytest.approx(1.0)
    assert table.loc["a", "lowest run"] == pytest.approx(0.55)
    assert table.loc["a", "highest run"] == pytest.approx(0.75)
    assert table.loc["a", "gap"] == pytest.approx(0.9 - 0.65)
    assert table.loc["b", "seeds"] == 1 and np.isnan(table.loc["b", "std over seeds"])
    scores = remedies.seed_scores(histories, last=2)
    assert scores.loc["a", 1] == pytest.approx(0.75) and np.isnan(scores.loc["b", 1])
