"""How fast the app comes up: seconds until its health check answers, and the first prediction.

    python benchmarks/app_startup.py          # writes benchmarks/app_startup.json
    QUICK=1 python benchmarks/app_startup.py  # one start instead of five, into scratch/

Starts `streamlit run app/streamlit_app.py` headless on a free port several times and
records the seconds from launch to the first "ok" of /_stcore/health. The model is loaded
when the first visitor arrives, so the time to load each model and predict one image is
measured separately, in this process, as is the time a fresh Python takes to import Keras.
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import streamlit

from train_speed import machine  # the same machine description as the training benchmark
from utils import config, prediction, saving, serving


def seconds_to_healthy(starts):
    """Seconds from launching the server to its health check answering, for each start."""
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        for start in range(starts):
            with serving.running_app(Path(folder) / f"server{start}.log") as (_, elapsed):
                seconds.append(round(elapsed, 2))
    return seconds


def import_seconds(module="keras"):
    """Seconds for a fresh Python to import Keras (and TensorFlow): the first visitor waits
    for it, since the app imports it when the first page is drawn."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True,
                   capture_output=True)
    return round(time.perf_counter() - start, 2)


def first_prediction_seconds(model_path, image):
    """Seconds to load a saved model and to predict one image with it (the first call)."""
    start = time.perf_counter()
    network = saving.load_model(model_path)
    loaded = time.perf_counter()
    prediction.predict_probabilities(network, image)
    return {"load_model_s": round(loaded - start, 2),
            "first_prediction_s": round(time.perf_counter() - loaded, 2)}


def main():
    starts = 1 if config.is_quick() else 5
    health = seconds_to_healthy(starts)
    image = prediction.load_image(config.ROOT / "app" / "examples" / "test_0000_cat.png")
    results = {
        "health_check_seconds": health,
        "health_check_max_seconds": max(health),
        "import_keras_seconds": import_seconds(),
        "models": {path.name: first_prediction_seconds(path, image)
                   for path in (config.ROOT / "models" / "best_cnn.keras",
                                config.ROOT / "models" / "baseline_cnn.keras")},
        "machine": {**machine(), "streamlit": streamlit.__version__},
        "date": time.strftime("%Y-%m-%d"),
    }
    folder = config.output_dir("benchmarks") if config.is_quick() else config.ROOT / "benchmarks"
    path = folder / "app_startup.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"health check answered after {np.median(health):.1f} s (median of {starts}), "
          f"at most {max(health):.1f} s")
    print(f"a fresh Python imports Keras and TensorFlow in {results['import_keras_seconds']} s")
    for name, times in results["models"].items():
        print(f"{name}: loaded in {times['load_model_s']} s, first prediction "
              f"{times['first_prediction_s']} s")
    print("wrote", path.relative_to(config.ROOT))


if __name__ == "__main__":
    main()
