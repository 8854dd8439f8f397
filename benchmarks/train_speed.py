"""Time the baseline CNN (06) and the better network (10, 11) back to back, in one process.

    python benchmarks/train_speed.py          # full: writes benchmarks/results.json
    QUICK=1 python benchmarks/train_speed.py  # seconds: writes scratch/benchmarks/results.json
    python benchmarks/train_speed.py float32  # the better network in another precision than
                                              # the one chosen for this machine:
                                              # benchmarks/results_float32.json

results_with_whitening.json and results_float32.json are earlier runs (2026-11-28) that timed
the better network with its whitening layer, before notebook 11's final recipe dropped it.

Each network trains for a fixed number of steps on the real training images, with the
batch size, data pipeline and callbacks of its notebook; the first steps (graph tracing)
are not timed. Seconds per step x steps per epoch x epochs projects each full training
run. The two networks are timed in turns, ROUNDS times (baseline, better, baseline, ...),
so that a slow spell of a shared machine falls on both; each round gives a ratio, and the
reported one uses the median seconds per step of each network over the rounds. Peak
memory (RSS) is read from the kernel for each network in the first round only (later rounds
start with memory the other network left behind). Test accuracies
are read from what was saved when each model was trained (the baseline's summary, the better
network's final run of seed 0 in models/better_cnn_runs/, final_no_whitening_seed0.json);
nothing is evaluated here.
"""
import json
import os
import platform
import sys
import time

import keras
import numpy as np

from utils import better_cnn, config, data, models, precision, recipe, training

WARMUP_STEPS = 5
ROUNDS = 3


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training step."""

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.start)

    def on_train_begin(self, logs=None):
        self.times = []


def reset_peak_memory():
    """Reset the process's peak RSS (Linux: writing 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        pass


def peak_memory_mb():
    """Peak resident memory of this process since the last reset, in MiB (Linux)."""
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def time_baseline(x_train, y_train, steps):
    """Seconds per step of the original recipe: batch 36, Adam, as in notebook 06."""
    model = models.compile_baseline(models.build_baseline_cnn())
    timer = StepTimer()
    n = (steps + WARMUP_STEPS) * 36
    model.fit(x_train[:n], y_train[:n], batch_size=36, epochs=1, verbose=0, callbacks=[timer])
    return float(np.median(timer.times[WARMUP_STEPS:]))


def time_better(x_train, y_train, steps, total_steps, policy):
    """Seconds per step of the better network: airbench94_muon's batch, optimizer and data,
    without the whitening layer, as notebook 11's final recipe trains it."""
    batch_size = recipe.MUON_BATCH_SIZE
    network = better_cnn.build_network(x_train, precision=policy, whitening=False)
    batches = recipe.AlternatingFlipTranslate(x_train, y_train, batch_size)
    recipe.compile_network_muon(network, len(batches), total_steps // len(batches), batch_size)
    timer = StepTimer()
    network.fit(batches, epochs=1, steps_per_epoch=steps + WARMUP_STEPS, verbose=0,
                callbacks=[timer])
    return float(np.median(timer.times[WARMUP_STEPS:]))


def machine():
    """CPU model, core count, and library versions."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import tensorflow as tf

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "keras": keras.__version__, "backend": keras.backend.backend(),
            "tensorflow": tf.__version__, "numpy": np.__version__}


def read_summary(name):
    """A notebook's saved summary, or None if that notebook has not run in this mode."""
    try:
        return training.load_summary(name)
    except FileNotFoundError:
        return None


def read_test_accuracy(name):
    """The test accuracy saved with a model when it was trained, or None."""
    if name == "best_cnn":
        path = config.models_dir() / "better_cnn_runs" / "final_no_whitening_seed0.json"
        return json.loads(path.read_text())["test_accuracy_tta"] if path.is_file() else None
    summary = read_summary(name)
    return summary["test_accuracy"] if summary else None


def main(argv):
    quick = config.is_quick()
    chosen, _ = precision.choose_precision(precision.describe_hardware())
    policy = argv[0] if argv else chosen
    if policy not in ("float32", "mixed_float16", "mixed_bfloat16"):
        print(f"Unknown precision {policy!r}: give float32, mixed_float16 or mixed_bfloat16, "
              "or nothing for the one chosen for this machine.")
        return 2
    (x_train, y_train), (x_val, y_val), _ = data.load_cifar10(quick=False)
    x_full, y_full = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    runs = {
        "baseline_cnn": {"notebook": "06_training", "epochs": 40, "batch_size": 36,
                         "training_images": len(x_train)},
        "best_cnn": {"notebook": "11_better_network_training", "epochs": recipe.MUON_EPOCHS,
                     "batch_size": recipe.MUON_BATCH_SIZE, "training_images": len(x_full)},
    }
    steps = {"baseline_cnn": 20 if quick else 300, "best_cnn": 2 if quick else 12}
    better_total_steps = runs["best_cnn"]["epochs"] * (len(x_full) // recipe.MUON_BATCH_SIZE)
    timings = {name: [] for name in runs}
    peaks = {name: 0.0 for name in runs}
    for round_number in range(1 if quick else ROUNDS):
        reset_peak_memory()
        timings["baseline_cnn"].append(time_baseline(x_train, y_train, steps["baseline_cnn"]))
        if round_number == 0:  # later rounds start with the other network's memory held
            peaks["baseline_cnn"] = peak_memory_mb()
        keras.backend.clear_session()
        reset_peak_memory()
        timings["best_cnn"].append(time_better(x_full, y_full, steps["best_cnn"],
                                               better_total_steps, policy))
        if round_number == 0:
            peaks["best_cnn"] = peak_memory_mb()
        keras.backend.clear_session()
        print(f"round {round_number + 1}: {timings['baseline_cnn'][-1]:.4f} s/step baseline, "
              f"{timings['best_cnn'][-1]:.3f} s/step better network", flush=True)
    for name, run in runs.items():
        run.update(seconds_per_step=float(np.median(timings[name])),
                   seconds_per_step_by_round=timings[name], peak_rss_mb=peaks[name])

    for name, run in runs.items():
        run["timed_steps"] = steps[name]
        steps_per_epoch = run["training_images"] // run["batch_size"]
        run["seconds_per_epoch"] = run["seconds_per_step"] * steps_per_epoch
        run["projected_training_seconds"] = run["seconds_per_epoch"] * run["epochs"]
        run["test_accuracy"] = read_test_accuracy(name)
    runs["best_cnn"]["precision"] = policy
    if policy != chosen:  # the saved model was trained in the chosen precision
        runs["best_cnn"]["test_accuracy"] = None

    ratio = (runs["best_cnn"]["projected_training_seconds"]
             / runs["baseline_cnn"]["projected_training_seconds"])
    steps_per_run = {name: run["training_images"] // run["batch_size"] * run["epochs"]
                     for name, run in runs.items()}
    ratios_by_round = [(better * steps_per_run["best_cnn"]) / (baseline * steps_per_run["baseline_cnn"])
                       for baseline, better in zip(timings["baseline_cnn"], timings["best_cnn"])]
    results = {"quick_mode": quick, "runs": runs, "training_time_ratio": ratio,
               "training_time_ratio_by_round": ratios_by_round,
               "machine": machine(), "data": data.describe_source(),
               "date": time.strftime("%Y-%m-%d")}

    print(f"{'network':<14}{'s/epoch':>9}{'epochs':>8}{'projected min':>15}"
          f"{'peak RSS MiB':>14}{'test acc':>10}")
    for name, run in runs.items():
        accuracy = f"{run['test_accuracy']:.2%}" if run["test_accuracy"] is not None else "-"
        print(f"{name:<14}{run['seconds_per_epoch']:>9.1f}{run['epochs']:>8}"
              f"{run['projected_training_seconds'] / 60:>15.1f}{run['peak_rss_mb']:>14.0f}"
              f"{accuracy:>10}")
    print(f"training time ratio (better / baseline): {ratio:.3f} "
          f"(by round: {', '.join(f'{r:.3f}' for r in ratios_by_round)})")

    path = config.output_dir("benchmarks") / ("results.json" if policy == chosen
                                              else f"results_{policy}.json")
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path.relative_to(config.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
