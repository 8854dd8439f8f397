"""Where does a training step of the better network (10–11) go? Timings of stripped-down copies.

    python benchmarks/profile_step.py     # writes benchmarks/profile_step.json

One batch of 1,024 images, bfloat16 mixed precision as in notebook 11, each variant timed
over the same number of steps after a warm-up, interleaved so that a busy machine slows
all of them alike:
- "train step": the whole step (forward, backward, SGD update);
- "forward only": inference on the same batch;
- "convolutions only": the same convolutions and poolings with batch-norm, the scaled
  biases and GELU removed, trained the same way: what the convolutions cost by themselves;
- "float32": the whole step without mixed precision.
"""
import json
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers

from train_speed import machine
from utils import better_cnn, recipe

BATCH = 1024
STEPS = 3
ROUNDS = 3


def convolutions_only(widths=better_cnn.WIDTHS):
    """The 10 network's convolutions and poolings alone (no batch-norm, biases or GELU)."""
    inputs = keras.Input((32, 32, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(better_cnn.WHITENING_WIDTH, 2, use_bias=False)(x)
    for filters in widths:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, use_bias=False, dtype="float32")(x)
    return keras.Model(inputs, outputs)


def main():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(BATCH, 32, 32, 3)).astype("uint8")
    labels = np.eye(10, dtype="float32")[rng.integers(0, 10, BATCH)]

    networks = {"train step": better_cnn.build_network(images),
                "float32": better_cnn.build_network(images, precision="float32")}
    keras.config.set_dtype_policy("mixed_bfloat16")
    networks["convolutions only"] = convolutions_only()
    keras.config.set_dtype_policy("float32")
    for network in networks.values():
        recipe.compile_network(network, total_steps=1000, batch_size=BATCH)
        network.train_on_batch(images, labels)  # trace the graph
    forward = networks["train step"]
    forward.predict_on_batch(images)

    times = {name: [] for name in ["train step", "forward only", "convolutions only", "float32"]}
    for _ in range(ROUNDS):
        for name in times:
            start = time.perf_counter()
            for _ in range(STEPS):
                if name == "forward only":
                    forward.predict_on_batch(images)
                else:
                    networks[name].train_on_batch(images, labels)
            times[name].append((time.perf_counter() - start) / STEPS)
    seconds = {name: round(float(np.median(values)), 3) for name, values in times.items()}
    share = {name: round(seconds[name] / seconds["train step"], 2) for name in seconds}
    result = {"batch_size": BATCH, "seconds_per_step_median": seconds,
              "relative_to_train_step": share, "machine": machine(),
              "date": time.strftime("%Y-%m-%d")}
    path = Path(__file__).with_name("profile_step.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    for name in seconds:
        print(f"{name:18s} {seconds[name]:.3f} s/step  ({share[name]:.2f} of a train step)")
    print("wrote benchmarks/profile_step.json")


if __name__ == "__main__":
    main()
