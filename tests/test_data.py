"""utils.data: finding, reading and splitting CIFAR-10, and clear errors for bad data."""
import pickle
import shutil
import ssl
import urllib.error
from pathlib import Path

import keras
import numpy as np
import pytest

from utils import data
from conftest import IMAGES_PER_TEST_BATCH, IMAGES_PER_TRAIN_BATCH, write_batch

N_TRAIN_FULL = 5 * IMAGES_PER_TRAIN_BATCH


# --- Splitting ---------------------------------------------------------------------------

def test_split_sizes_dtypes_and_shapes(cifar_folder):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data.load_cifar10(
        val_size=500, data_dir=cifar_folder.parent)
    assert len(x_train) == N_TRAIN_FULL - 500 and len(x_val) == 500
    assert len(x_test) == IMAGES_PER_TEST_BATCH
    for images, labels in [(x_train, y_train), (x_val, y_val), (x_test, y_test)]:
        assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
        assert labels.shape == (len(images),) and np.issubdtype(labels.dtype, np.integer)


def test_split_is_stratified_and_disjoint(cifar_folder):
    (x_train, y_train), (x_val, y_val), _ = data.load_cifar10(
        val_size=500, data_dir=cifar_folder.parent)
    assert np.bincount(y_val, minlength=10).tolist() == [50] * 10
    assert np.bincount(y_train, minlength=10).tolist() == [250] * 10
    train_ids = {image.tobytes() for image in x_train}
    assert not any(image.tobytes() in train_ids for image in x_val)


def test_split_is_repeatable_with_the_same_seed(cifar_folder):
    first = data.load_cifar10(val_size=500, seed=1, data_dir=cifar_folder.parent)
    second = data.load_cifar10(val_size=500, seed=1, data_dir=cifar_folder.parent)
    np.testing.assert_array_equal(first[1][0], second[1][0])


def test_test_set_keeps_the_official_order(cifar_folder):
    _, _, (x_test, y_test) = data.load_cifar10(val_size=500, data_dir=cifar_folder.parent)
    assert y_test.tolist() == [i % 10 for i in range(IMAGES_PER_TEST_BATCH)]
    first_pixels = x_test[:, 0, 0, 0]  # channel-first in the file: pixel 0 is red (0, 0)
    assert first_pixels.tolist() == [i % 256 for i in range(IMAGES_PER_TEST_BATCH)]


def test_images_are_decoded_channels_last(cifar_folder):
    images, _ = data.read_batch(cifar_folder / "data_batch_1")
    with open(cifar_folder / "data_batch_1", "rb") as file:
        raw = pickle.load(file, encoding="bytes")[b"data"]
    red, green, blue = raw[0, :1024], raw[0, 1024:2048], raw[0, 2048:]
    np.testing.assert_array_equal(images[0, :, :, 0].ravel(), red)
    np.testing.assert_array_equal(images[0, :, :, 1].ravel(), green)
    np.testing.assert_array_equal(images[0, :, :, 2].ravel(), blue)


def test_quick_mode_sizes_are_stratified(cifar_folder, monkeypatch):
    monkeypatch.setenv("QUICK", "1")
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data.load_cifar10(
        val_size=500, data_dir=cifar_folder.parent)
    assert (len(x_train), len(x_val), len(x_test)) == (2_000, 500, 1_000)
    assert np.bincount(y_train).tolist() == [200] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    monkeypatch.delenv("QUICK")
    _, _, (x_test_full, _) = data.load_cifar10(val_size=500, data_dir=cifar_folder.parent)
    position = {image.tobytes(): i for i, image in enumerate(x_test_full)}
    positions = [position[image.tobytes()] for image in x_test]
    assert positions == sorted(positions)  # a subset, still in the official order


def test_class_names():
    assert len(data.CLASS_NAMES) == 10
    assert data.CLASS_NAMES[0] == "airplane" and data.CLASS_NAMES[9] == "truck"


# --- Where the data comes from -----------------------------------------------------------

def test_environment_variable_comes_first(cifar_folder, clean_env, monkeypatch):
    elsewhere = clean_env / "elsewhere"
    shutil.copytree(cifar_folder, elsewhere / data.BATCHES_FOLDER)
    monkeypatch.setenv(data.DATA_ENV_VAR, str(elsewhere))
    assert data.find_batches_dir(cifar_folder.parent) == elsewhere / data.BATCHES_FOLDER


def test_environment_variable_pointing_nowhere_says_so(clean_env, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV_VAR, str(clean_env / "nowhere"))
    with pytest.raises(data.DataError, match=data.DATA_ENV_VAR):
        data.find_batches_dir(clean_env)


def test_local_tarball_is_extracted_once(cifar_tarball, clean_env, monkeypatch):
    data_dir = clean_env / "data"
    data_dir.mkdir()
    shutil.copy(cifar_tarball, data_dir)
    assert data.find_batches_dir(data_dir) == data_dir / data.BATCHES_FOLDER

    def no_second_extraction(*args):
        raise AssertionError("extracted twice")

    monkeypatch.setattr(data, "extract_tarball", no_second_extraction)
    (x_train, _), _, _ = data.load_cifar10(val_size=500, data_dir=data_dir)
    assert len(x_train) == N_TRAIN_FULL - 500


def test_keras_cache_is_used(cifar_folder, clean_env):
    cache = data.keras_cache_dir()
    shutil.copytree(cifar_folder, cache)
    assert data.find_batches_dir(clean_env / "empty") == cache


def test_download_uses_the_official_url_and_hash(cifar_tarball, clean_env, monkeypatch):
    calls = []

    def fake_get_file(fname, origin, file_hash, hash_algorithm, cache_dir, cache_subdir):
        calls.append((origin, file_hash, hash_algorithm))
        target = clean_env / "empty" / fname
        shutil.copy(cifar_tarball, target)
        return str(target)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    (clean_env / "empty").mkdir()
    folder = data.find_batches_dir(clean_env / "empty")
    assert calls == [(data.OFFICIAL_URL, data.OFFICIAL_SHA256, "sha256")]
    assert folder == clean_env / "empty" / data.BATCHES_FOLDER
    assert (folder / "test_batch").is_file()


# --- Bad data: clear errors --------------------------------------------------------------

def raise_from_get_file(monkeypatch, error):
    def failing_get_file(**kwargs):
        raise error
    monkeypatch.setattr(keras.utils, "get_file", failing_get_file)


def keras_fetch_failure(reason):
    """The exception Keras raises when urlretrieve fails: a plain Exception from URLError."""
    try:
        raise urllib.error.URLError(reason)
    except urllib.error.URLError as url_error:
        try:
            raise Exception(f"URL fetch failure on {data.OFFICIAL_URL}: None -- {reason}")
        except Exception as wrapped:
            assert wrapped.__context__ is url_error
            return wrapped


def test_no_data_and_no_network_names_both_remedies(clean_env, monkeypatch):
    raise_from_get_file(monkeypatch, keras_fetch_failure(
        OSError(-3, "Temporary failure in name resolution")))
    with pytest.raises(data.DataError) as error:
        data.load_cifar10(data_dir=clean_env / "empty")
    message = str(error.value)
    assert "downloading" in message and data.TARBALL_NAME in message
    assert "data/" in message and data.DATA_ENV_VAR in message
    assert "../shared/cifar10" in message
    assert error.value.__suppress_context__, "the message quotes the error; no chained tracebacks"


def test_offline_copy_beside_the_clone_is_built_into_data(clean_env, monkeypatch, capsys):
    script = clean_env / "shared" / "cifar10" / "make_batches.py"
    script.parent.mkdir(parents=True)
    tests_dir = str(Path(__file__).parent)
    script.write_text(f"import sys, pathlib\nsys.path.insert(0, {tests_dir!r})\n"
                      "from conftest import write_cifar_folder\n"
                      "write_cifar_folder(pathlib.Path(sys.argv[1]))\n")
    monkeypatch.setattr(data, "OFFLINE_COPY_SCRIPT", script)
    (x_train, _), _, (x_test, _) = data.load_cifar10(val_size=500, data_dir=clean_env / "data")
    assert (clean_env / "data" / data.BATCHES_FOLDER / data.TEST_BATCH).is_file()
    assert len(x_test) == IMAGES_PER_TEST_BATCH
    assert "offline copy" in capsys.readouterr().out


def test_failing_offline_copy_says_so(clean_env, monkeypatch):
    script = clean_env / "shared" / "cifar10" / "make_batches.py"
    script.parent.mkdir(parents=True)
    script.write_text("raise SystemExit('PIL is missing')\n")
    monkeypatch.setattr(data, "OFFLINE_COPY_SCRIPT", script)
    with pytest.raises(data.DataError, match="offline copy") as error:
        data.load_cifar10(data_dir=clean_env / "data")
    assert "PIL is missing" in str(error.value)


def test_no_data_without_download_names_both_remedies(clean_env):
    with pytest.raises(data.DataError, match=data.DATA_ENV_VAR) as error:
        data.find_batches_dir(clean_env / "empty", download=False)
    assert data.TARBALL_NAME in str(error.value)


def test_ssl_certificate_failure_says_how_to_fix_certificates(clean_env, monkeypatch):
    certificate_error = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    raise_from_get_file(monkeypatch, keras_fetch_failure(certificate_error))
    with pytest.raises(data.DataError) as error:
        data.load_cifar10(data_dir=clean_env / "empty")
    message = str(error.value)
    assert "certifi" in message and "certificate" in message
    assert "verification off" in message  # says not to switch it off


def test_hash_mismatch_says_delete_and_retry(clean_env, monkeypatch):
    raise_from_get_file(monkeypatch, ValueError(
        "Incomplete or corrupted file detected. The sha256 file hash does not match"))
    with pytest.raises(data.DataError, match="Delete") as error:
        data.load_cifar10(data_dir=clean_env / "empty")
    assert data.OFFICIAL_SHA256 in str(error.value)


def test_partial_tarball_says_delete_and_retry(cifar_tarball, clean_env):
    data_dir = clean_env / "data"
    data_dir.mkdir()
    content = cifar_tarball.read_bytes()
    (data_dir / data.TARBALL_NAME).write_bytes(content[: len(content) // 2])
    with pytest.raises(data.DataError, match="partial or corrupt.*Delete"):
        data.load_cifar10(data_dir=data_dir)


def test_missing_batch_is_named(cifar_folder):
    (cifar_folder / "data_batch_3").unlink()
    with pytest.raises(data.DataError, match="data_batch_3 is missing"):
        data.load_cifar10(val_size=500, data_dir=cifar_folder.parent)


def test_truncated_batch_is_named(cifar_folder):
    batch = cifar_folder / "test_batch"
    batch.write_bytes(batch.read_bytes()[:5_000])
    with pytest.raises(data.DataError, match="test_batch is truncated"):
        data.load_cifar10(val_size=500, data_dir=cifar_folder.parent)


def test_batch_that_is_not_a_pickle_is_named(cifar_folder):
    (cifar_folder / "data_batch_1").write_text("<html>404 Not Found</html>")
    with pytest.raises(data.DataError, match="data_batch_1 is truncated or is not"):
        data.load_cifar10(val_size=500, data_dir=cifar_folder.parent)


def test_batch_with_wrong_shape_is_named(cifar_folder):
    batch = {b"labels": [0] * 10, b"data": np.zeros((10, 3000), np.uint8)}
    with open(cifar_folder / "data_batch_2", "wb") as file:
        pickle.dump(batch, file, protocol=2)
    with pytest.raises(data.DataError, match="data_batch_2 has the wrong shape"):
        data.load_cifar10(val_size=500, data_dir=cifar_folder.parent)


def test_batch_with_mismatched_labels_is_named(cifar_folder):
    pixels, labels = write_batch(cifar_folder / "data_batch_4", 20, seed=0)
    batch = {b"labels": labels[:5], b"data": pixels}
    with open(cifar_folder / "data_batch_4", "wb") as file:
        pickle.dump(batch, file, protocol=2)
    with pytest.raises(data.DataError, match="5 labels for 20 images"):
        data.load_cifar10(val_size=500, data_dir=cifar_folder.parent)
