"""Port check, PyTorch side: airbench94_muon's own network and update loop on the Keras start.

    python torch_side.py PATH/TO/airbench94_muon.py     # after keras_side.py; needs torch only

Loads CifarNet, Muon and zeropower_via_newtonschulz5 from the given copy of
airbench94_muon.py (KellerJordan/cifar10-airbench), in float32 on the CPU (its
`torch.compile` dropped, Newton-Schulz in float32 to match keras_side.py), copies in the
Keras network's initial weights, and compares on the same 2,000 images: the loss and the
gradients at the start, then the weights after each of 3 steps of its own training loop
(the lines of its main(), with its learning rates, weight decay and schedules). As a
yardstick, it also compares PyTorch with itself on inputs changed by one part in a million:
differences of that size are what floating-point rounding alone produces here.
"""
import sys
from math import ceil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FOLDER = Path(__file__).resolve().parents[2] / "scratch" / "port_check"


def load_reference(path):
    source = Path(path).read_text()
    source = source[source.index("@torch.compile\ndef zeropower"):source.index("def print_columns")]
    source = source.replace("@torch.compile\n", "").replace("X = G.bfloat16()", "X = G.float()")
    namespace = {"torch": torch, "nn": nn, "F": F, "ceil": ceil}
    exec(source, namespace)
    return namespace


def compare(reference, keras_arrays, names):
    """Relative Frobenius distance and cosine of each named array, worst first."""
    rows = []
    for name in names:
        t, k = reference[name], keras_arrays[name]
        distance = np.linalg.norm(t - k) / np.linalg.norm(t)
        cosine = np.sum(t * k) / (np.linalg.norm(t) * np.linalg.norm(k))
        rows.append((distance, cosine, name))
    return sorted(rows, reverse=True)


def reference_model(ref, init):
    """airbench94_muon's CifarNet in float32, with the Keras network's starting weights."""
    model = ref["CifarNet"]().float()
    with torch.no_grad():
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if name in init.files:
                tensor.copy_(torch.tensor(init[name]))
    return model.train()


def start_gradients(model, inputs, labels):
    loss = F.cross_entropy(model(inputs), labels, label_smoothing=0.2, reduction="sum")
    loss.backward()
    return {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.requires_grad}


def train_steps(ref, init, inputs, labels, steps=3):
    """airbench94_muon's main() loop for `steps` steps on one batch; the state after each."""
    model = reference_model(ref, init)
    batch_size, bias_lr, head_lr = 2000, 0.053, 0.67
    wd = 2e-6 * batch_size
    total_train_steps, whiten_bias_train_steps = ceil(8 * 25), ceil(3 * 25)
    filter_params = [p for p in model.parameters() if len(p.shape) == 4 and p.requires_grad]
    norm_biases = [p for n, p in model.named_parameters() if "norm" in n and p.requires_grad]
    param_configs = [dict(params=[model.whiten.bias], lr=bias_lr, weight_decay=wd/bias_lr),
                     dict(params=norm_biases, lr=bias_lr, weight_decay=wd/bias_lr),
                     dict(params=[model.head.weight], lr=head_lr, weight_decay=wd/head_lr)]
    optimizer1 = torch.optim.SGD(param_configs, momentum=0.85, nesterov=True)
    optimizer2 = ref["Muon"](filter_params, lr=0.24, momentum=0.6, nesterov=True)
    optimizers = [optimizer1, optimizer2]
    for opt in optimizers:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    states = []
    for step in range(steps):
        outputs = model(inputs, whiten_bias_grad=(step < whiten_bias_train_steps))
        F.cross_entropy(outputs, labels, label_smoothing=0.2, reduction="sum").backward()
        for group in optimizer1.param_groups[:1]:
            group["lr"] = group["initial_lr"] * (1 - step / whiten_bias_train_steps)
        for group in optimizer1.param_groups[1:] + optimizer2.param_groups:
            group["lr"] = group["initial_lr"] * (1 - step / total_train_steps)
        for opt in optimizers:
            opt.step()
        model.zero_grad(set_to_none=True)
        states.append({n: t.detach().numpy().copy() for n, t in
                       list(model.named_parameters()) + list(model.named_buffers())})
    return states


def main(path):
    ref = load_reference(path)
    init = np.load(FOLDER / "init.npz")
    inputs, labels = torch.tensor(init["inputs"]), torch.tensor(init["labels"]).long()
    torch.manual_seed(0)
    nudged = inputs * (1 + 1e-6 * torch.randn_like(inputs))

    keras_gradients = np.load(FOLDER / "keras_gradients.npz")
    model = reference_model(ref, init)
    loss = F.cross_entropy(model(inputs), labels, label_smoothing=0.2, reduction="sum")
    print(f"loss at the start: PyTorch {loss.item():.4f}, Keras {float(keras_gradients['loss']):.4f}")
    exact = start_gradients(reference_model(ref, init), inputs, labels)
    trained = list(exact)
    keras_names = [n for n in keras_gradients.files if n != "loss"]
    renamed = dict(zip(trained, (keras_gradients[k] for k in keras_names)))
    control = compare(exact, start_gradients(reference_model(ref, init), nudged, labels), trained)
    yardstick = {name: distance for distance, _, name in control}
    print("gradients at the start, Keras against PyTorch: relative distance and cosine, "
          "worst first;\nlast column: PyTorch against itself with inputs changed by 1e-6")
    for distance, cosine, name in compare(exact, renamed, trained):
        print(f"  {name:24s} {distance:.1e}  {cosine:.7f}   {yardstick[name]:.1e}")

    states, nudged_states = train_steps(ref, init, inputs, labels), train_steps(ref, init, nudged, labels)
    print("weights after each step: the largest relative distance over all weights and biases")
    for step, (state, other) in enumerate(zip(states, nudged_states), start=1):
        keras_weights = np.load(FOLDER / f"keras_step{step}.npz")
        names = [n for n in keras_weights.files if "running" not in n]  # weights, not statistics
        keras_worst = compare(state, keras_weights, names)[0]
        torch_worst = compare(state, other, names)[0]
        print(f"  step {step}: Keras against PyTorch {keras_worst[0]:.1e} ({keras_worst[2]}); "
              f"PyTorch against itself, inputs changed by 1e-6: {torch_worst[0]:.1e} ({torch_worst[2]})")


if __name__ == "__main__":
    main(sys.argv[1])
