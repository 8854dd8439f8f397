"""Fixtures: tiny CIFAR-10 folders in the official "python version" format.

Nothing here needs the real data set: each test writes the few batches it needs.
"""
import pickle
import tarfile

import numpy as np
import pytest

from utils import data

IMAGES_PER_TRAIN_BATCH = 600
IMAGES_PER_TEST_BATCH = 1_200


def write_batch(path, n_images, seed, offset=0):
    """Write one batch as the official files are: a pickled dict with bytes keys.

    Labels cycle through the 10 classes; the first pixel of image i holds (offset + i) % 256
    so tests can check that order is kept.
    """
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n_images, 3072), dtype=np.uint8)
    pixels[:, 0] = (offset + np.arange(n_images)) % 256
    labels = [int(i % 10) for i in range(offset, offset + n_images)]
    batch = {b"batch_label": path.name.encode(), b"labels": labels, b"data": pixels,
             b"filenames": [f"img_{offset + i}.png".encode() for i in range(n_images)]}
    with open(path, "wb") as file:
        pickle.dump(batch, file, protocol=2)
    return pixels, labels


def write_cifar_folder(parent):
    """Write `parent/cifar-10-batches-py/` with 5 x 600 train and 1,200 test images."""
    folder = parent / data.BATCHES_FOLDER
    folder.mkdir(parents=True)
    for i, name in enumerate(data.TRAIN_BATCHES):
        write_batch(folder / name, IMAGES_PER_TRAIN_BATCH, seed=i,
                    offset=i * IMAGES_PER_TRAIN_BATCH)
    write_batch(folder / data.TEST_BATCH, IMAGES_PER_TEST_BATCH, seed=99)
    return folder


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No data variable, quick mode off, an empty Keras cache and no offline copy beside us."""
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "OFFLINE_COPY_SCRIPT", tmp_path / "no_shared" / "make_batches.py")
    monkeypatch.delenv("QUICK", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path


@pytest.fixture
def cifar_folder(clean_env):
    """A tiny `cifar-10-batches-py/` folder under a temporary data directory."""
    return write_cifar_folder(clean_env / "data")


@pytest.fixture
def cifar_tarball(clean_env):
    """A tiny `cifar-10-python.tar.gz` holding a `cifar-10-batches-py/` folder."""
    folder = write_cifar_folder(clean_env / "build")
    tarball = clean_env / "build" / data.TARBALL_NAME
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(folder, arcname=data.BATCHES_FOLDER)
    return tarball
