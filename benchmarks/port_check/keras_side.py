"""Port check, Keras side: the better network's first steps, to compare with airbench94_muon's code.

    python benchmarks/port_check/keras_side.py          # writes scratch/port_check/*.npz

Builds the network in float32 (seed 0), takes the first 2,000 training images (no
augmentation), and saves, in PyTorch's layout: the initial weights and standardized
inputs; the gradient of the batch-summed, label-smoothed loss at the start; and the weights
after each of 3 training steps of the Muon recipe (`recipe.compile_network_muon`, with the
Newton-Schulz products in float32). `torch_side.py` loads the same weights into
airbench94_muon's own classes and update loop and compares (see README.md here).
"""
import numpy as np
import keras
import tensorflow as tf

from utils import better_cnn, config, data, recipe

STEPS = 3
BATCH = 2000


def torch_layout(network):
    """Every weight and batch-norm statistic, named and shaped as in airbench94_muon's CifarNet."""
    convs = [layer for layer in network.layers if isinstance(layer, keras.layers.Conv2D)]
    biases = [layer for layer in network.layers if layer.__class__.__name__ == "ScaledBias"]
    norms = [layer for layer in network.layers if isinstance(layer, keras.layers.BatchNormalization)]
    head = next(layer for layer in network.layers if isinstance(layer, keras.layers.Dense))
    weights = {"whiten.weight": np.transpose(convs[0].kernel.numpy(), (3, 2, 0, 1)),
               "whiten.bias": biases[0].bias.numpy() * biases[0].scale,
               "head.weight": head.kernel.numpy().T}
    for group in range(3):
        for j in range(2):
            name = f"layers.{group + 1}"
            conv, bias, norm = convs[1 + 2 * group + j], biases[1 + 2 * group + j], norms[2 * group + j]
            weights[f"{name}.conv{j + 1}.weight"] = np.transpose(conv.kernel.numpy(), (3, 2, 0, 1))
            weights[f"{name}.norm{j + 1}.bias"] = bias.bias.numpy() * bias.scale
            weights[f"{name}.norm{j + 1}.running_mean"] = norm.moving_mean.numpy()
            weights[f"{name}.norm{j + 1}.running_var"] = norm.moving_variance.numpy()
    return weights


def main():
    folder = config.ROOT / "scratch" / "port_check"
    folder.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), _, _ = data.load_cifar10(quick=False)
    keras.utils.set_random_seed(0)
    network = better_cnn.build_network(x_train, precision="float32")
    images, labels = x_train[:BATCH], y_train[:BATCH]
    one_hot = np.eye(10, dtype="float32")[labels]
    standardized = network.get_layer("standardize")(images.astype("float32"))
    np.savez(folder / "init.npz", inputs=np.transpose(np.asarray(standardized), (0, 3, 1, 2)),
             labels=labels, **torch_layout(network))

    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2,
                                                   reduction="sum")
    with tf.GradientTape() as tape:
        loss = loss_fn(one_hot, network(images, training=True))
    gradients = tape.gradient(loss, network.trainable_variables)
    for layer in network.layers:  # undo the statistics update of that training-mode call
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, "float32"))
            layer.moving_variance.assign(np.ones(layer.moving_variance.shape, "float32"))
    as_torch = {variable.path: (np.transpose(g.numpy(), (3, 2, 0, 1)) if g.ndim == 4
                                else g.numpy().T if g.ndim == 2 else g.numpy())
                for variable, g in zip(network.trainable_variables, gradients)}
    np.savez(folder / "keras_gradients.npz", loss=float(loss), **as_torch)

    recipe.compile_network_muon(network, steps_per_epoch=25, epochs=8, batch_size=BATCH,
                                ns_dtype="float32")
    for step in range(STEPS):
        network.train_on_batch(images, one_hot)
        np.savez(folder / f"keras_step{step + 1}.npz", **torch_layout(network))
    print(f"wrote {folder.relative_to(config.ROOT)}/: init, gradients, {STEPS} steps")


if __name__ == "__main__":
    main()
