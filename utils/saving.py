"""Loading the project's saved models on any Keras 3 a learner may have (3.8 or newer).

Introduced in 06_training. A `.keras` file holds two things: the model's
configuration (every layer and its settings) and its weights. Newer Keras versions write
settings that older ones do not know (Keras 3.14 added `renorm` to BatchNormalization,
3.15 `input_axes` to initializers), so `keras.models.load_model` in Colab's Keras 3.8 to
3.13 cannot read a file saved by this project's Keras 3.15. The weights, however, are
plain arrays that every Keras 3 reads. So `load_model` rebuilds the network from the
project's own code (the configuration it already knows) and loads only the weights from
the file; for a model it does not know how to build, it falls back to the full load.
"""
import json
import zipfile
from pathlib import Path

import keras

from utils import better_cnn, models


class ModelFileError(RuntimeError):
    """A saved model is missing or cannot be read; the message says what to do."""


def build_baseline():
    """The baseline CNN of 05_cnn_construction (uncompiled)."""
    return models.build_baseline_cnn()


def build_better(precision, recipe="airbench94", whitening=True, first_padding="same"):
    """The better network of notebooks 10–11 behind its test-time augmentation."""
    network = better_cnn.build_network(None, precision=precision, recipe=recipe,
                                       whitening=whitening, first_padding=first_padding)
    return better_cnn.with_test_time_augmentation(network)


def saved_config(path):
    """The model configuration stored in a `.keras` file (a zip archive), as a dict."""
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise ModelFileError(
            f"{path} is not a readable .keras file ({error}). It may be damaged or only partly "
            f"downloaded: restore it with `git checkout -- {Path(path).name}` in models/, or "
            f"retrain it with the notebook that made it.") from None


def saved_precision(config):
    """The mixed-precision policy the model was saved with ("float32" if none)."""
    text = json.dumps(config)
    for policy in ("mixed_bfloat16", "mixed_float16"):
        if f'"{policy}"' in text:
            return policy
    return "float32"


def find_first(config, matches):
    """The configuration of the first layer anywhere in `config` for which `matches(entry)` holds.

    Each layer is stored as an entry {"class_name": ..., "config": {...}}.
    """
    if isinstance(config, dict):
        if ("class_name" in config and isinstance(config.get("config"), dict)
                and matches(config)):
            return config["config"]
        children = config.values()
    elif isinstance(config, list):
        children = config
    else:
        return None
    for child in children:
        found = find_first(child, matches)
        if found is not None:
            return found
    return None


def find_layer(config, name):
    """The configuration of the layer called `name`, searched for anywhere in `config`."""
    return find_first(config, lambda entry: entry["config"].get("name") == name)


def saved_recipe(config):
    """The better network's training recipe, read from its logits' scale in the configuration.

    The two recipes build the same layers with the same weights, but airbench94 divides the
    logits by 9 and airbench94_muon by the last width (256), and they scale the biases
    differently: a network must be rebuilt with the recipe it was trained with.
    """
    logits = find_layer(config, "logits")
    scale = None if logits is None else logits.get("scale")
    return "airbench94" if scale is None or abs(scale - 1 / 9) < 1e-6 else "airbench94_muon"


def saved_whitening(config):
    """Whether the better network was saved with its whitening layer (notebook 11's final
    recipe replaces it by an ordinary trained 2x2 convolution)."""
    return find_layer(config, "whitening") is not None


def saved_first_padding(config):
    """The padding of the better network's first 2x2 convolution ("same" if there is none).

    Padded or not, its weights have the same shape, so only the configuration tells them
    apart (`better_cnn.build_network`'s `first_padding`).
    """
    first = find_first(config, lambda entry: entry["class_name"] == "Conv2D"
                       and list(entry["config"].get("kernel_size", [])) == [2, 2])
    return "same" if first is None else first.get("padding", "valid")


def load_model(path, precision=None):
    """Load a model saved by this project's notebooks, on Keras 3.8 or newer.

    The networks this project knows (by the name stored in the file: "baseline_cnn",
    "better_cnn") are rebuilt from `utils` and get the file's weights. `precision`
    ("float32", "mixed_bfloat16", ...) overrides the one the better network was saved
    with. Any other model is loaded whole with `keras.models.load_model`.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"No saved model at {path}. Run the notebook that trains it first (06_training "
            f"for baseline_cnn, 11_better_network_training for best_cnn), or set that "
            f"notebook's USE_TRAINED_MODEL = True to use the committed one.")
    config = saved_config(path)
    name = config.get("config", {}).get("name")
    builders = {"baseline_cnn": build_baseline,
                "better_cnn": lambda: build_better(precision or saved_precision(config),
                                                   saved_recipe(config), saved_whitening(config),
                                                   saved_first_padding(config))}
    if name in builders:
        model = builders[name]()
        try:
            model.load_weights(path)
        except ValueError:
            pass  # the file's layers differ from the project's: try the full load below
        else:
            # Compiled only for `evaluate`: sparse labels, probabilities out, accuracy.
            model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            return model
    try:
        return keras.models.load_model(path)
    except (TypeError, ValueError) as error:
        reason = str(error).strip().splitlines()[-1]
        raise ModelFileError(
            f"Keras {keras.__version__} cannot load {path} ({reason}). It was saved with a "
            f"different architecture than the project's code builds, by a newer Keras. Retrain "
            f"it with the notebook that made it, or load it with the Keras it was saved with.") from None
