"""Architecture diagrams of Keras models, drawn with plain matplotlib.

Introduced in 05_cnn_construction. `keras.utils.plot_model` needs pydot and the graphviz
programs; this module needs only matplotlib, so the diagram renders the same in JupyterLab,
in Colab and in the notebooks GitHub shows.

`plot_architecture(model)` draws a model whose layers form a chain (each layer takes the
previous one's output, as in `keras.Sequential` or the baseline of `utils.models`) as a
vertical stack of boxes, one per layer, with each layer's output shape and parameter count.
A model with a branch or several inputs is refused with a `ValueError`.
"""
import math
from dataclasses import dataclass

import keras
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# Box colours by layer type (light, so that black text stays readable).
TYPE_COLOURS = {
    "conv": "#c6dbef",
    "normalization": "#c7e9c0",
    "pooling": "#fdd0a2",
    "dropout": "#e0e0e0",
    "dense": "#f4c2c2",
    "other": "#ffffff",
}
# Background colours of the repeated convolution blocks.
BLOCK_COLOURS = ["#fff7bc", "#e5d8f0", "#d0ece7", "#fde0ef", "#e8f0c8", "#ddeeff"]

ACTIVATION_NAMES = {"relu": "ReLU", "gelu": "GELU", "elu": "ELU", "selu": "SELU",
                    "silu": "SiLU", "swish": "SiLU", "leaky_relu": "leaky ReLU"}


@dataclass
class LayerRow:
    """One box of the diagram: what the layer is, its output shape and its parameters."""

    name: str          # the layer's Keras name, e.g. "conv2d"
    layer_type: str    # the layer's class name, e.g. "Conv2D"
    kind: str          # "conv", "normalization", "pooling", "dropout", "dense" or "other"
    label: str         # e.g. "Conv2D 64, 3×3, ReLU"
    shape: str         # output shape without the batch axis, e.g. "32×32×64" or "4,096"
    params: int        # layer.count_params()
    block: int | None = None  # 1, 2, ... for the layers of a repeated conv block


def format_shape(shape):
    """`(None, 32, 32, 64)` -> "32×32×64"; `(None, 4096)` -> "4,096" (batch axis dropped)."""
    return "×".join("?" if d is None else f"{d:,}" for d in tuple(shape)[1:])


def _pairs(value):
    """`(3, 3)` -> "3×3"; a single number stays as it is."""
    if isinstance(value, (tuple, list)):
        return "×".join(str(v) for v in value)
    return str(value)


def _activation(layer):
    """A short name of the layer's activation, or None for a linear one."""
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", str(activation))
    if name == "linear":
        return None
    return ACTIVATION_NAMES.get(name, name)


def layer_kind(layer):
    """Which family a layer belongs to, for its colour: conv, pooling, dense..."""
    type_name = type(layer).__name__
    if "Conv" in type_name:
        return "conv"
    if "Pooling" in type_name:
        return "pooling"
    if "Normalization" in type_name:
        return "normalization"
    if "Dropout" in type_name:
        return "dropout"
    if type_name == "Dense":
        return "dense"
    return "other"


def describe_layer(layer):
    """A one-line description of a layer: its type and key settings.

    `Conv2D(64, 3, activation="relu")` -> "Conv2D 64, 3×3, ReLU"; `Dropout(0.25)` ->
    "Dropout 0.25"; a layer type not known here -> its class name.
    """
    type_name = type(layer).__name__
    parts = []
    if isinstance(layer, keras.layers.InputLayer):
        return "Input"
    if hasattr(layer, "filters") and hasattr(layer, "kernel_size"):
        parts = [str(layer.filters), _pairs(layer.kernel_size)]
        if any(s != 1 for s in layer.strides):
            parts.append(f"stride {_pairs(layer.strides)}")
    elif type_name == "Dense":
        parts = [str(layer.units)]
    elif hasattr(layer, "pool_size"):
        parts = [_pairs(layer.pool_size)]
        if tuple(layer.strides) != tuple(layer.pool_size):
            parts.append(f"stride {_pairs(layer.strides)}")
    elif isinstance(layer, keras.layers.Dropout):
        parts = [f"{layer.rate:g}"]
    elif isinstance(layer, keras.layers.Rescaling):
        scale = layer.scale
        if isinstance(scale, (int, float)) and 0 < scale < 1 and abs(1 / scale - round(1 / scale)) < 1e-6:
            parts = [f"×1/{round(1 / scale)}"]
        elif isinstance(scale, (int, float)):
            parts = [f"×{scale:g}"]
    elif isinstance(layer, keras.Model):
        return f"{type_name} '{layer.name}'"
    activation = _activation(layer)
    if activation and not isinstance(layer, keras.layers.Activation):
        parts.append(activation)
    elif isinstance(layer, keras.layers.Activation) and activation:
        parts = [activation]
    return f"{type_name} {', '.join(parts)}" if parts else type_name


def chain_layers(model):
    """The model's layers in order, after checking that each takes the previous one's output.

    Raises `ValueError` for a model that is not built, has several inputs or outputs, or
    whose layers branch or merge (a residual connection, a layer used twice...).
    """
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError) as error:
        raise ValueError(f"Model '{model.name}' is not built: give it an `Input` "
                         "(or call it on a batch) before drawing it.") from error
    if not inputs or len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"Model '{model.name}' has {len(inputs or [])} inputs and "
                         f"{len(outputs or [])} outputs; plot_architecture draws only a chain "
                         "of layers with one input and one output.")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = inputs[0]
    for layer in layers:
        layer_input = layer.input
        if layer_input is not previous:
            raise ValueError(f"Layer '{layer.name}' does not take the previous layer's output "
                             "as its only input: the model branches or merges, and "
                             "plot_architecture draws only a chain of layers (use "
                             "model.summary() or keras.utils.plot_model for this one).")
        previous = layer.output
    if previous is not outputs[0]:
        raise ValueError(f"The last layer of model '{model.name}' does not give the model's "
                         "output (a layer is used twice?): plot_architecture draws only a "
                         "chain of layers.")
    return layers


def find_blocks(kinds, type_names=None):
    """Number the repeated convolution blocks in a list of layer kinds; None outside a block.

    A block is a convolution, the layers after it up to and including the next pooling
    layer, and a dropout right after that pooling. Blocks are numbered only when there are
    at least two and all of them are made of the same layer types in the same order
    (`type_names`, e.g. class names; the kinds themselves if not given), as the baseline's
    three are; otherwise every entry is None and the diagram shows plain boxes.
    """
    type_names = list(kinds) if type_names is None else list(type_names)
    spans, start = [], None
    for i, kind in enumerate(kinds):
        if kind == "conv":
            start = i
        elif kind == "pooling" and start is not None:
            end = i + 1
            if end < len(kinds) and kinds[end] == "dropout":
                end += 1
            spans.append((start, end))
            start = None
    blocks = [None] * len(kinds)
    if len(spans) < 2 or len({tuple(type_names[a:b]) for a, b in spans}) != 1:
        return blocks
    for number, (a, b) in enumerate(spans, start=1):
        blocks[a:b] = [number] * (b - a)
    return blocks


def architecture_rows(model, group_blocks=True):
    """One `LayerRow` per box: the model's input, then every layer in order.

    Raises `ValueError` if the layers do not form a chain (see `chain_layers`).
    """
    layers = chain_layers(model)
    input_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.InputLayer)]
    rows = [LayerRow(name=input_layers[0].name if input_layers else "input",
                     layer_type="InputLayer", kind="other", label="Input",
                     shape=format_shape(model.inputs[0].shape), params=0)]
    for layer in layers:
        rows.append(LayerRow(name=layer.name, layer_type=type(layer).__name__,
                             kind=layer_kind(layer), label=describe_layer(layer),
                             shape=format_shape(layer.output.shape),
                             params=layer.count_params()))
    if group_blocks:
        blocks = find_blocks([row.kind for row in rows], [row.layer_type for row in rows])
        for row, block in zip(rows, blocks):
            row.block = block
    return rows


def _count_weights(weights):
    return sum(math.prod(w.shape) for w in weights)


def plot_architecture(model, ax=None, group_blocks=True, title=None, fontsize=9.5):
    """Draw a chain-shaped Keras model as a vertical stack of boxes; return the axes.

    Each box names a layer (type and key settings) and is coloured by the layer's family;
    beside it are its output shape (without the batch axis) and its parameter count, and
    the total is written underneath. With `group_blocks`, repeated convolution blocks
    (conv ... pooling, dropout; see `find_blocks`) get a coloured background and a
    "block N" label.
    Introduced in 05_cnn_construction. Raises `ValueError` for a model that branches.
    """
    rows = architecture_rows(model, group_blocks=group_blocks)
    n = len(rows)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.6, 0.36 * n + 1.3))
    box_left, box_right = 1.3, 5.7
    shape_x, params_x = 7.0, 9.9
    box_height = 0.64

    def y_of(i):  # row i's centre; row 0 at the top
        return n - 1 - i

    header_y = n - 0.15
    for x, text, ha in [((box_left + box_right) / 2, "layer", "center"),
                        (shape_x, "output shape", "center"), (params_x, "parameters", "right")]:
        ax.text(x, header_y, text, ha=ha, va="bottom", fontsize=fontsize, fontweight="bold")

    # Coloured backgrounds behind the repeated blocks, labelled on the left.
    blocks = sorted({row.block for row in rows if row.block is not None})
    for number in blocks:
        members = [i for i, row in enumerate(rows) if row.block == number]
        top, bottom = y_of(members[0]) + 0.45, y_of(members[-1]) - 0.45
        colour = BLOCK_COLOURS[(number - 1) % len(BLOCK_COLOURS)]
        ax.add_patch(FancyBboxPatch((0.1, bottom), params_x + 0.05, top - bottom,
                                    boxstyle="round,pad=0,rounding_size=0.15",
                                    facecolor=colour, edgecolor="none", zorder=0,
                                    gid=f"block:{number}"))
        ax.text(0.65, (top + bottom) / 2, f"block {number}", rotation=90, ha="center",
                va="center", fontsize=fontsize, color="#444444")

    for i, row in enumerate(rows):
        y = y_of(i)
        ax.add_patch(FancyBboxPatch((box_left, y - box_height / 2), box_right - box_left,
                                    box_height, boxstyle="round,pad=0,rounding_size=0.12",
                                    facecolor=TYPE_COLOURS[row.kind], edgecolor="#555555",
                                    linewidth=0.8, zorder=2, gid=f"box:{i}"))
        ax.text((box_left + box_right) / 2, y, row.label, ha="center", va="center",
                fontsize=fontsize, zorder=3, gid=f"label:{i}")
        ax.text(shape_x, y, row.shape, ha="center", va="center", fontsize=fontsize,
                gid=f"shape:{i}")
        ax.text(params_x, y, f"{row.params:,}", ha="right", va="center", fontsize=fontsize,
                color="black" if row.params else "#999999", gid=f"params:{i}")
        if i:
            ax.add_patch(FancyArrowPatch(((box_left + box_right) / 2, y_of(i - 1) - box_height / 2),
                                         ((box_left + box_right) / 2, y + box_height / 2),
                                         arrowstyle="-|>", mutation_scale=8, color="#555555",
                                         linewidth=0.8, shrinkA=0, shrinkB=0, zorder=1))

    total = model.count_params()
    trainable = _count_weights(model.trainable_weights)
    note = f"total: {total:,} parameters"
    if trainable != total:
        note += f" ({trainable:,} trained, {total - trainable:,} not)"
    ax.text(params_x, -0.95, note, ha="right", va="center", fontsize=fontsize,
            fontweight="bold", gid="total")

    ax.set_xlim(0, 10)
    ax.set_ylim(-1.4, n + 0.45)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=fontsize + 1.5)
    return ax
