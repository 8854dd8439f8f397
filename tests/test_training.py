"""utils.training: seeding, and a run that is interrupted and resumed."""
import keras
import numpy as np
import pytest
from keras import layers

from utils import training


class Interrupted(Exception):
    """Stands in for a kernel that dies in the middle of training."""


class InterruptAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise Interrupted(f"stopped after epoch {self.epoch}")


def tiny_model():
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Rescaling(1 / 255),
                              layers.Conv2D(4, 3), layers.GlobalAveragePooling2D(),
                              layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=64)
    return images, labels


def test_interrupted_run_resumes_with_one_continuous_history(tiny_data, tmp_path):
    images, labels = tiny_data
    run = dict(name="tiny", epochs=4, batch_size=16, folder=tmp_path, verbose=0)
    training.set_seed(0)
    with pytest.raises(Interrupted):
        training.fit(tiny_model(), images, labels, (images, labels),
                     callbacks=[InterruptAfterEpoch(2)], **run)
    paths = training.run_paths("tiny", tmp_path)
    assert paths["backup"].is_dir()
    assert len(training.load_history(paths["history"])) == 2

    resumed = tiny_model()
    history = training.fit(resumed, images, labels, (images, labels), **run)
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert not paths["backup"].exists()  # a finished run cleans up its backup
    best = keras.models.load_model(paths["model"])
    assert [w.shape for w in best.get_weights()] == [w.shape for w in resumed.get_weights()]


def test_duplicated_epoch_rows_keep_the_latest(tmp_path):
    csv = tmp_path / "history.csv"
    csv.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n"
                   "0,0.1,2.0,0.1,2.0\n1,0.2,1.9,0.2,1.9\n1,0.3,1.8,0.3,1.8\n")
    history = training.load_history(csv)
    assert history["epoch"].tolist() == [1, 2]
    assert history["accuracy"].tolist() == [0.1, 0.3]


def test_set_seed_makes_weights_repeatable():
    training.set_seed(7)
    first = tiny_model().get_weights()
    training.set_seed(7)
    second = tiny_model().get_weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_summary_round_trip(tmp_path):
    training.save_summary({"test_accuracy": np.float64(0.8), "epochs": 40}, "run", tmp_path)
    assert training.load_summary("run", tmp_path) == {"test_accuracy": 0.8, "epochs": 40}
