"""Loading CIFAR-10: find the data, read the official batches, split train/validation.

Introduced in 01_data_exploration. The one entry point is `load_cifar10()`:

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data.load_cifar10()

Where the data comes from, first match wins:

1. the folder named by the `CIFAR10_DATA` environment variable, holding `cifar-10-batches-py/`;
2. `data/cifar-10-batches-py/`;
3. `data/cifar-10-python.tar.gz`, extracted once into `data/`;
4. the copy `keras.datasets.cifar10.load_data()` cached under `$KERAS_HOME` or `~/.keras`;
5. the project's offline copy, where one sits beside the clone (`../shared/cifar10/`, as on
   the project's CI machines): its script builds `data/cifar-10-batches-py/` (a JPEG
   re-encoded copy of CIFAR-10);
6. the official archive, downloaded into `data/` and checked against its SHA-256.

Anything wrong with the data raises `DataError` with a message that names the file and
says what to do.
"""
import hashlib
import os
import pickle
import ssl
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from utils import config

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]

DATA_ENV_VAR = "CIFAR10_DATA"
BATCHES_FOLDER = "cifar-10-batches-py"
TARBALL_NAME = "cifar-10-python.tar.gz"
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
# SHA-256 of test_batch in the JPEG re-encoded copy (quality 75) built by the project's CI.
JPEG_COPY_TEST_SHA256 = "f742bbe06fd64dde538956531e21e351b8d87f288beca2433a414f3313a27619"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"

VAL_SIZE = 5_000
SEED = 42
QUICK_SIZES = {"train": 2_000, "val": 500, "test": 1_000}

OFFLINE_COPY_SCRIPT = config.ROOT.parent / "shared" / "cifar10" / "make_batches.py"

MANUAL_REMEDY = (
    f"Either download {OFFICIAL_URL} by hand and put {TARBALL_NAME} in the project's "
    f"data/ folder (it is extracted on the next call), or set the environment variable "
    f"{DATA_ENV_VAR} to a folder that holds {BATCHES_FOLDER}/. Without internet, the "
    f"project's offline copy is used when it sits beside the clone as "
    f"../shared/cifar10/make_batches.py."
)


class DataError(RuntimeError):
    """The CIFAR-10 data is missing or damaged; the message says which file and what to do."""


# --- Finding the data -------------------------------------------------------------------

def keras_cache_dir():
    """The folder where `keras.datasets.cifar10.load_data()` keeps its extracted copy."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "datasets" / "cifar-10-batches-py-target" / BATCHES_FOLDER


def find_batches_dir(data_dir=None, download=True):
    """Return the `cifar-10-batches-py` folder to read, obtaining it if needed.

    Looks in the places listed in this module's docstring, in that order. `data_dir` is
    the project's cache folder (default `data/`). With `download=False` a missing data set
    raises `DataError` instead of trying the network.
    """
    data_dir = Path(data_dir or config.DATA_DIR)

    from_env = os.environ.get(DATA_ENV_VAR)
    if from_env:
        folder = Path(from_env).expanduser() / BATCHES_FOLDER
        if not folder.is_dir():
            raise DataError(
                f"{DATA_ENV_VAR} is set to {from_env!r}, but {folder} does not exist. "
                f"Point {DATA_ENV_VAR} at the folder that contains {BATCHES_FOLDER}/, "
                f"or unset it to use the project's data/ folder.")
        return folder

    local_folder = data_dir / BATCHES_FOLDER
    if local_folder.is_dir():
        return local_folder

    local_tarball = data_dir / TARBALL_NAME
    if local_tarball.is_file():
        return extract_tarball(local_tarball, data_dir)

    if keras_cache_dir().is_dir():
        return keras_cache_dir()

    if OFFLINE_COPY_SCRIPT.is_file():
        return build_from_offline_copy(data_dir)

    if not download:
        raise DataError(f"CIFAR-10 was not found in {data_dir}. {MANUAL_REMEDY}")
    return extract_tarball(download_tarball(data_dir), data_dir)


def build_from_offline_copy(data_dir):
    """Build `data_dir/cifar-10-batches-py/` with the offline copy's own script; return it."""
    print(f"CIFAR-10 not found in data/: building it from the offline copy in "
          f"../shared/cifar10/ (JPEG re-encoded, about 10 s).", flush=True)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, str(OFFLINE_COPY_SCRIPT), str(data_dir)],
                            capture_output=True, text=True)
    folder = Path(data_dir) / BATCHES_FOLDER
    if result.returncode != 0 or not folder.is_dir():
        raise DataError(f"Building CIFAR-10 from the offline copy {OFFLINE_COPY_SCRIPT.parent} "
                        f"failed: {result.stderr.strip()[-500:]} {MANUAL_REMEDY}")
    return folder


def extract_tarball(tarball, data_dir):
    """Extract `cifar-10-python.tar.gz` into `data_dir` and return the batches folder."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            archive.extractall(data_dir, filter="data")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(
            f"{tarball} is partial or corrupt ({error}). Delete it and download it again; "
            f"the official archive's SHA-256 is {OFFICIAL_SHA256}. {MANUAL_REMEDY}") from None
    folder = Path(data_dir) / BATCHES_FOLDER
    if not folder.is_dir():
        raise DataError(f"{tarball} does not contain a {BATCHES_FOLDER}/ folder: it is not the "
                        f"CIFAR-10 python archive. Delete it. {MANUAL_REMEDY}")
    return folder


def download_tarball(data_dir):
    """Download the official archive into `data_dir`, check its SHA-256, return its path."""
    import keras  # imported here: reading local data does not need Keras

    try:
        path = keras.utils.get_file(
            fname=TARBALL_NAME, origin=OFFICIAL_URL, file_hash=OFFICIAL_SHA256,
            hash_algorithm="sha256", cache_dir=str(data_dir), cache_subdir=".")
    except Exception as error:  # Keras wraps network errors in plain Exception
        # The message quotes the error; its chain of tracebacks would bury it.
        raise DataError(explain_download_error(error, Path(data_dir) / TARBALL_NAME)) from None
    return Path(path)


def explain_download_error(error, target):
    """Turn an exception raised while downloading into a message that says what to do."""
    if is_certificate_error(error):
        return (
            f"Downloading {OFFICIAL_URL} failed because this Python cannot verify the "
            f"server's SSL certificate ({error}). Fix the certificates rather than turning "
            f"verification off: `pip install --upgrade certifi` and set "
            f"SSL_CERT_FILE to the path printed by `python -m certifi`; on macOS run "
            f"'Install Certificates.command' from your Python folder. {MANUAL_REMEDY}")
    if "corrupt" in str(error).lower() or "hash" in str(error).lower():
        return (
            f"The downloaded {target} does not match the official SHA-256 {OFFICIAL_SHA256}: "
            f"the download is partial or corrupt. Delete {target} and run again. "
            f"{MANUAL_REMEDY}")
    return (f"CIFAR-10 is not on this machine and downloading {OFFICIAL_URL} failed "
            f"({error}). {MANUAL_REMEDY}")


def is_certificate_error(error):
    """True if `error`, or any exception it was raised from, is an SSL certificate failure."""
    while error is not None:
        if isinstance(error, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(error):
            return True
        error = error.__cause__ or error.__context__ or getattr(error, "reason", None)
        if not isinstance(error, BaseException):
            return False
    return False


# --- Reading the official batches -------------------------------------------------------

def read_batch(path):
    """Read one official batch file: images `(10000, 32, 32, 3)` uint8 and labels `(10000,)`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} is missing: the CIFAR-10 folder is incomplete. Delete "
                        f"{path.parent} and obtain the data again. {MANUAL_REMEDY}")
    try:
        with open(path, "rb") as file:
            batch = pickle.load(file, encoding="bytes")
        flat_images = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"])
    except Exception as error:  # truncated, not a pickle, or a pickle of something else
        raise DataError(f"{path} is truncated or is not a CIFAR-10 batch ({error!r}). Delete "
                        f"{path.parent} and obtain the data again. {MANUAL_REMEDY}") from None
    check_batch_arrays(path, flat_images, labels)
    images = flat_images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels.astype(np.int64)


def check_batch_arrays(path, flat_images, labels):
    """Raise `DataError` unless a batch holds N rows of 3072 uint8 pixels and N labels 0-9."""
    problem = None
    if flat_images.dtype != np.uint8 or flat_images.ndim != 2 or flat_images.shape[1] != 3072:
        problem = (f"its images are {flat_images.dtype} {flat_images.shape}, "
                   f"expected uint8 (N, 3072)")
    elif labels.shape != (len(flat_images),):
        problem = f"it has {labels.size} labels for {len(flat_images)} images"
    elif labels.size and (labels.min() < 0 or labels.max() > 9):
        problem = f"its labels run from {labels.min()} to {labels.max()}, expected 0-9"
    if problem:
        raise DataError(f"{path} has the wrong shape: {problem}. Delete {path.parent} and "
                        f"obtain the data again. {MANUAL_REMEDY}")


def read_batches(batches_dir):
    """Read the 50,000 training and 10,000 test images from a `cifar-10-batches-py` folder."""
    train_parts = [read_batch(Path(batches_dir) / name) for name in TRAIN_BATCHES]
    x_train = np.concatenate([images for images, _ in train_parts])
    y_train = np.concatenate([labels for _, labels in train_parts])
    x_test, y_test = read_batch(Path(batches_dir) / TEST_BATCH)
    return (x_train, y_train), (x_test, y_test)


# --- Splitting --------------------------------------------------------------------------

def stratified_subset(images, labels, size, seed=SEED):
    """Keep `size` examples with the same class mix, in their original order."""
    if size >= len(labels):
        return images, labels
    indices, _ = train_test_split(np.arange(len(labels)), train_size=size,
                                  stratify=labels, random_state=seed)
    indices = np.sort(indices)
    return images[indices], labels[indices]


def load_cifar10(val_size=VAL_SIZE, seed=SEED, quick=None, data_dir=None):
    """Load CIFAR-10 as train / validation / test splits of uint8 images and int labels.

    The 50,000 training images are split into `50,000 - val_size` train and `val_size`
    validation images, stratified by class with a fixed seed; the 10,000 test images keep
    their official order. In quick mode (`QUICK=1`, or `quick=True`) each split is cut to
    a stratified subset of `QUICK_SIZES`. Class names are in `CLASS_NAMES`.

    Returns `(x_train, y_train), (x_val, y_val), (x_test, y_test)`.
    """
    quick = config.is_quick() if quick is None else quick
    (x_full, y_full), (x_test, y_test) = read_batches(find_batches_dir(data_dir))
    x_train, x_val, y_train, y_val = train_test_split(
        x_full, y_full, test_size=val_size, stratify=y_full, random_state=seed)
    if quick:
        x_train, y_train = stratified_subset(x_train, y_train, QUICK_SIZES["train"], seed)
        x_val, y_val = stratified_subset(x_val, y_val, QUICK_SIZES["val"], seed)
        x_test, y_test = stratified_subset(x_test, y_test, QUICK_SIZES["test"], seed)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def is_jpeg_copy(batches_dir):
    """True if the test batch is the JPEG re-encoded copy (quality 75) this project is built on.

    That copy's pixels differ from the originals by about 5.8/255 on average, so
    accuracies measured on it run a little below published CIFAR-10 figures.
    """
    digest = hashlib.sha256(Path(batches_dir, TEST_BATCH).read_bytes()).hexdigest()
    return digest == JPEG_COPY_TEST_SHA256


def describe_source(data_dir=None):
    """A one-line, machine-independent description of the data read and where it came from."""
    folder = find_batches_dir(data_dir, download=False)
    if os.environ.get(DATA_ENV_VAR):
        place = f"the folder named by ${DATA_ENV_VAR}"
    elif folder == keras_cache_dir():
        place = "the copy cached by keras.datasets.cifar10"
    else:
        place = f"the project's data/{BATCHES_FOLDER}/ folder"
    if is_jpeg_copy(folder):
        return (f"the JPEG re-encoded copy of CIFAR-10 (quality 75, ~5.8/255 per pixel from "
                f"the originals; accuracies run a little below published figures), read "
                f"from {place}")
    return f"CIFAR-10 (not the JPEG re-encoded copy), read from {place}"


if __name__ == "__main__":
    try:
        (x_train, _), (x_val, _), (x_test, _) = load_cifar10()
    except DataError as error:
        sys.exit(f"DataError: {error}")
    print(f"CIFAR-10 ready: {len(x_train):,} train / {len(x_val):,} validation / "
          f"{len(x_test):,} test images, from {describe_source()}.")
