"""Load every committed model with the project's loader and check its test accuracy.

Run by .ci/run in environments that mirror Google Colab's runtimes (Keras 3.8 and 3.13):
    python tests/check_committed_models.py
For each `models/NAME.keras` it loads the model with `utils.saving.load_model`, scores the
10,000 test images and compares the accuracy with the one in `models/NAME_summary.json`,
which was measured when the model was saved. Exits with status 1 if a model does not load
or its accuracy differs by more than TOLERANCE.
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project, however it is run

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from utils import config, data, prediction, saving, training  # noqa: E402

TOLERANCE = 0.002  # 20 of 10,000 test images: rounding differs a little between versions


def check(name, x_test, y_test, source):
    path = config.ROOT / "models" / f"{name}.keras"
    start = time.perf_counter()
    model = saving.load_model(path)
    probabilities = prediction.predict_probabilities(model, x_test, batch_size=500)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == y_test))
    summary = training.load_summary(name, folder=config.ROOT / "models")
    expected = summary["test_accuracy"]
    seconds = time.perf_counter() - start
    if summary.get("data") != source:
        print(f"{name}: test accuracy {accuracy:.2%} ({seconds:.0f} s); the summary's "
              f"{expected:.2%} was measured on other data, not compared")
        return True
    ok = abs(accuracy - expected) <= TOLERANCE
    print(f"{name}: test accuracy {accuracy:.2%}, saved with {expected:.2%} "
          f"({'ok' if ok else 'MISMATCH'}; loaded and scored in {seconds:.0f} s)")
    return ok


def main():
    print(f"Python {sys.version.split()[0]}, TensorFlow {tf.__version__}, Keras {keras.__version__}")
    (_, _), (_, _), (x_test, y_test) = data.load_cifar10(quick=False)
    source = data.describe_source()
    results = [check(name, x_test, y_test, source) for name in ("baseline_cnn", "best_cnn")]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
