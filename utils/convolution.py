"""A convolution layer's forward pass in plain NumPy, and the diagrams that explain it.

Introduced in 03_convolution_by_hand. Everything here is written for reading, not speed:
explicit loops over output positions, one image at a time, in the layout Keras uses
(images `(height, width, channels)`, a layer's weights `(kernel_height, kernel_width,
in_channels, out_channels)`: one filter per output channel, made of one kernel per input
channel). `keras.layers.Conv2D` and `MaxPooling2D` compute the same numbers, faster;
tests/test_convolution.py checks that they do.
"""
import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patches


# --- Sizes and parameter counts ---------------------------------------------------------

def output_size(n, kernel_size, padding=0, stride=1):
    """Output length along one axis: floor((n + 2·padding - kernel_size) / stride) + 1.

    `padding` zeros are added on each side. Introduced in 03_convolution_by_hand.
    """
    return (n + 2 * padding - kernel_size) // stride + 1


def same_padding(n, kernel_size, stride=1):
    """The zeros Keras (TensorFlow's rule) adds before and after an axis for padding="same".

    "same" keeps ceil(n / stride) outputs. The padding this needs is split in two, and when
    it is odd the extra zero goes after (bottom or right): for n=32, kernel 3, stride 2 that
    is (0, 1). Returns `(before, after)`. Introduced in 03_convolution_by_hand.
    """
    outputs = math.ceil(n / stride)
    total = max((outputs - 1) * stride + kernel_size - n, 0)
    return total // 2, total - total // 2


def conv_param_count(kernel_size, in_channels, out_channels, bias=True):
    """Parameters of a Conv2D layer: k·k·in_channels·out_channels weights + out_channels biases.

    Introduced in 03_convolution_by_hand.
    """
    return kernel_size * kernel_size * in_channels * out_channels + (out_channels if bias else 0)


# --- The forward pass -------------------------------------------------------------------

def pad_with_zeros(image, padding):
    """`image` (height, width, channels) with zero rows and columns added around it.

    `padding` is `((top, bottom), (left, right))`. Introduced in 03_convolution_by_hand.
    """
    (top, bottom), (left, right) = padding
    return np.pad(image, ((top, bottom), (left, right), (0, 0)))


def padding_amounts(padding, height, width, kernel_height, kernel_width, stride):
    """Turn `padding` (an int, "valid" or "same") into `((top, bottom), (left, right))`.

    An int p adds p zeros on every side; "valid" adds none; "same" follows Keras (see
    `same_padding`). Introduced in 03_convolution_by_hand.
    """
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return (same_padding(height, kernel_height, stride),
                same_padding(width, kernel_width, stride))
    if isinstance(padding, (int, np.integer)) and padding >= 0:
        return (padding, padding), (padding, padding)
    raise ValueError(f'padding must be "valid", "same" or a whole number >= 0, not {padding!r}')


def conv2d(image, weights, bias=None, stride=1, padding=0):
    """One convolution layer (no activation) on one image, with explicit loops.

    `image` is `(height, width, in_channels)`, `weights` `(kernel_height, kernel_width,
    in_channels, out_channels)` and `bias` `(out_channels,)`, the layouts Keras uses (Keras
    calls the `weights` array the layer's `kernel`). Filter f is `weights[:, :, :, f]`: one
    kernel per input channel. Each output value is the sum, over the window and over all
    input channels, of window × filter, plus the filter's bias. As in every deep-learning
    library this is cross-correlation: the kernels are not flipped. `padding` is a number of
    zeros on every side, "valid" or "same" (Keras' rule, see `same_padding`). Returns
    `(out_height, out_width, out_channels)` in float64. Introduced in 03_convolution_by_hand.
    """
    image = np.asarray(image, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    kernel_height, kernel_width, in_channels, out_channels = weights.shape
    if image.shape[2] != in_channels:
        raise ValueError(f"the image has {image.shape[2]} channels but the filters expect "
                         f"{in_channels}")
    bias = np.zeros(out_channels) if bias is None else np.asarray(bias, dtype=np.float64)
    amounts = padding_amounts(padding, image.shape[0], image.shape[1],
                              kernel_height, kernel_width, stride)
    padded = pad_with_zeros(image, amounts)
    out_height = (padded.shape[0] - kernel_height) // stride + 1
    out_width = (padded.shape[1] - kernel_width) // stride + 1
    output = np.zeros((out_height, out_width, out_channels))
    for i in range(out_height):
        for j in range(out_width):
            top, left = i * stride, j * stride
            window = padded[top:top + kernel_height, left:left + kernel_width, :]
            for f in range(out_channels):
                output[i, j, f] = np.sum(window * weights[:, :, :, f]) + bias[f]
    return output


def relu(x):
    """max(x, 0) element by element: negatives become 0. Introduced in 03_convolution_by_hand."""
    return np.maximum(x, 0)


def max_pool2d(feature_maps, pool_size=2, stride=None):
    """Max pooling of `(height, width, channels)` maps, no padding: the largest value per window.

    `stride` defaults to `pool_size` (non-overlapping windows), as in Keras' MaxPooling2D.
    Introduced in 03_convolution_by_hand.
    """
    stride = pool_size if stride is None else stride
    height, width, channels = feature_maps.shape
    out_height = output_size(height, pool_size, 0, stride)
    out_width = output_size(width, pool_size, 0, stride)
    output = np.zeros((out_height, out_width, channels), dtype=feature_maps.dtype)
    for i in range(out_height):
        for j in range(out_width):
            window = feature_maps[i * stride:i * stride + pool_size,
                                  j * stride:j * stride + pool_size, :]
            output[i, j, :] = window.max(axis=(0, 1))
    return output


# --- Diagrams ---------------------------------------------------------------------------

WINDOW_COLORS = ["tab:orange", "tab:blue", "tab:green"]


def _draw_grid(ax, x0, y0, rows, cols, fill=None, values=None, fontsize=9):
    """Unit squares with their top-left corner at (x0, y0), y pointing down.

    Text on a white or light grey square is grey; on a coloured square, white and bold.
    """
    for r in range(rows):
        for c in range(cols):
            color = fill(r, c) if fill else "white"
            ax.add_patch(patches.Rectangle((x0 + c, y0 + r), 1, 1, facecolor=color,
                                           edgecolor="0.55", linewidth=0.8))
            if values is not None:
                plain = color in ("white", "0.88")
                ax.text(x0 + c + 0.5, y0 + r + 0.5, values(r, c), ha="center", va="center",
                        fontsize=fontsize, color="0.35" if plain else "white",
                        weight="normal" if plain else "bold")


def draw_sliding_window(ax, n=5, kernel_size=3, padding=1, stride=1,
                        windows=((0, 0), (0, 1), (1, 1))):
    """Draw a zero-padded n×n input, the kernel windows of some outputs, and the output grid.

    Each output cell in `windows` gets a colour; its window on the padded input is outlined
    in the same colour. Introduced in 03_convolution_by_hand.
    """
    size = n + 2 * padding
    out = output_size(n, kernel_size, padding, stride)

    def input_fill(r, c):
        inside = padding <= r < padding + n and padding <= c < padding + n
        return "white" if inside else "0.88"

    def input_value(r, c):
        inside = padding <= r < padding + n and padding <= c < padding + n
        return f"x{r - padding}{c - padding}" if inside else "0"

    _draw_grid(ax, 0, 0, size, size, input_fill, input_value, fontsize=7)
    out_x0 = size + 2.5
    out_y0 = (size - out) / 2
    colors = {cell: WINDOW_COLORS[k % len(WINDOW_COLORS)] for k, cell in enumerate(windows)}
    _draw_grid(ax, out_x0, out_y0, out, out,
               lambda r, c: colors.get((r, c), "white"),
               lambda r, c: f"y{r}{c}", fontsize=8)
    for k, ((i, j), color) in enumerate(colors.items()):
        inset = 0.07 + 0.09 * k  # overlapping windows stay visible
        ax.add_patch(patches.Rectangle((j * stride + inset, i * stride + inset),
                                       kernel_size - 2 * inset, kernel_size - 2 * inset,
                                       fill=False, edgecolor=color, linewidth=2.5))
    ax.text(size / 2, -0.6, f"input {n}×{n}, zero-padded by {padding}", ha="center",
            fontsize=9)
    ax.text(out_x0 + out / 2, out_y0 - 0.6, f"output {out}×{out}", ha="center", fontsize=9)
    ax.set_title(f"{kernel_size}×{kernel_size} kernel, padding {padding}, stride {stride} → "
                 f"{out}×{out} output", fontsize=10)
    widest_output = output_size(n, kernel_size, padding, 1)  # same scale for every stride
    ax.set_xlim(-0.3, out_x0 + widest_output + 0.3)
    ax.set_ylim(size + 0.3, -1.3)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_sliding_windows(n=5, kernel_size=3, padding=1, strides=(1, 2)):
    """`draw_sliding_window` side by side for each stride; returns the figure.

    Introduced in 03_convolution_by_hand.
    """
    fig, axes = plt.subplots(1, len(strides), figsize=(6.2 * len(strides), 4.2))
    for ax, stride in zip(np.atleast_1d(axes), strides):
        draw_sliding_window(ax, n, kernel_size, padding, stride)
    fig.tight_layout()
    return fig


CHANNEL_COLORS = ["#e8a0a0", "#a0d0a0", "#a0b8e8", "#e0c890"]


def draw_channels(in_channels=3, out_channels=2, channel_names=("red", "green", "blue")):
    """How `in_channels` input maps and `out_channels` filters give `out_channels` output maps.

    Each filter has one k×k kernel per input channel; each kernel is slid over its channel,
    the results are summed over channels and the filter's bias is added. Returns the figure.
    Introduced in 03_convolution_by_hand.
    """
    fig, ax = plt.subplots(figsize=(11, 1.9 + 1.75 * max(in_channels, out_channels * 1.3)))
    in_size, slice_size, out_size = 1.5, 0.8, 1.5
    in_gap = 0.45
    in_height = in_channels * in_size + (in_channels - 1) * in_gap
    row_height = 2.6
    total_height = max(in_height, out_channels * row_height)
    in_y0 = (total_height - in_height) / 2
    names = list(channel_names) + [f"channel {c}" for c in range(len(channel_names), in_channels)]

    # input channels
    in_centres = []
    for c in range(in_channels):
        y = in_y0 + c * (in_size + in_gap)
        ax.add_patch(patches.Rectangle((0, y), in_size, in_size, facecolor=CHANNEL_COLORS[c % 4],
                                       edgecolor="0.3"))
        ax.text(in_size / 2, y + in_size / 2, f"x[:, :, {c}]\n{names[c]}", ha="center",
                va="center", fontsize=9)
        in_centres.append((in_size, y + in_size / 2))
    ax.text(in_size / 2, -0.55, f"input: H × W × {in_channels}", ha="center", fontsize=10,
            weight="bold")

    # filters, sums and output maps
    filters_x0 = 4.2
    row_y0 = (total_height - out_channels * row_height) / 2
    for f in range(out_channels):
        y_mid = row_y0 + f * row_height + row_height / 2
        box_w = in_channels * (slice_size + 0.25) + 0.25
        ax.add_patch(patches.FancyBboxPatch((filters_x0 - 0.1, y_mid - 0.9), box_w + 0.2, 1.8,
                                            boxstyle="round,pad=0.05", facecolor="0.96",
                                            edgecolor="0.4"))
        ax.text(filters_x0 + box_w / 2, y_mid - 1.05,
                f"filter {f}: 3 × 3 × {in_channels}", ha="center", fontsize=9, weight="bold")
        for c in range(in_channels):
            sx = filters_x0 + 0.25 + c * (slice_size + 0.25)
            ax.add_patch(patches.Rectangle((sx, y_mid - slice_size / 2), slice_size, slice_size,
                                           facecolor=CHANNEL_COLORS[c % 4], edgecolor="0.3"))
            for t in (1, 2):  # the 3×3 grid lines of the slice
                ax.plot([sx + t * slice_size / 3] * 2, [y_mid - slice_size / 2, y_mid + slice_size / 2],
                        color="0.45", lw=0.5)
                ax.plot([sx, sx + slice_size], [y_mid - slice_size / 2 + t * slice_size / 3] * 2,
                        color="0.45", lw=0.5)
            ax.text(sx + slice_size / 2, y_mid + slice_size / 2 + 0.28, f"w[:, :, {c}, {f}]",
                    ha="center", fontsize=7)
            entry = (filters_x0 - 0.1, y_mid + (c - (in_channels - 1) / 2) * 0.45)
            ax.plot([in_centres[c][0], entry[0]], [in_centres[c][1], entry[1]],
                    color=CHANNEL_COLORS[c % 4], lw=1.8, zorder=0)
        sum_x = filters_x0 + box_w + 1.3
        ax.add_patch(patches.Circle((sum_x, y_mid), 0.42, facecolor="white", edgecolor="0.3"))
        ax.text(sum_x, y_mid, f"Σ\n+ b[{f}]", ha="center", va="center", fontsize=8)
        ax.annotate("", xy=(sum_x - 0.45, y_mid), xytext=(filters_x0 + box_w + 0.12, y_mid),
                    arrowprops=dict(arrowstyle="->", color="0.3"))
        out_x = sum_x + 1.3
        ax.add_patch(patches.Rectangle((out_x, y_mid - out_size / 2), out_size, out_size,
                                       facecolor="0.8", edgecolor="0.3"))
        ax.text(out_x + out_size / 2, y_mid, f"y[:, :, {f}]", ha="center", va="center",
                fontsize=9)
        ax.annotate("", xy=(out_x, y_mid), xytext=(sum_x + 0.45, y_mid),
                    arrowprops=dict(arrowstyle="->", color="0.3"))
    ax.text(out_x + out_size / 2, -0.55, f"output: H_out × W_out × {out_channels}", ha="center",
            fontsize=10, weight="bold")
    ax.text((out_x + out_size) / 2, total_height + 0.55,
            "each kernel of a filter is slid over its own channel; the filter sums the results "
            "over all channels and adds its bias", ha="center", fontsize=9, color="0.25")
    ax.set_xlim(-0.3, out_x + out_size + 0.3)
    ax.set_ylim(total_height + 0.9, -1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


def show_maps(maps, titles, cmap="gray", size=2.2, ncols=None, limit=None, colorbar=False):
    """A row (or grid) of 2-D maps or colour images with titles; returns the figure.

    A map with negative values is drawn on a grey scale centred on 0 (0 mid-grey, positive
    values light, negative ones dark) from -limit to +limit; `limit` defaults to the map's
    own largest absolute value. A map without negative values goes from black (its
    minimum, 0 for a ReLU or pooled map) to white (its maximum). With `colorbar`, each map
    gets a colour bar that shows its scale. Every panel keeps a thin frame, so that light
    borders stay visible against the page. Introduced in 03_convolution_by_hand.
    """
    ncols = ncols or len(maps)
    nrows = math.ceil(len(maps) / ncols)
    width = size * (1.3 if colorbar else 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * width, nrows * (size + 0.35)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, maps, titles):
        image = np.asarray(image)
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("0.6")
            spine.set_linewidth(0.6)
        if image.ndim == 3:  # a colour image
            ax.imshow(image)
        else:
            if image.min() < 0:
                bound = limit if limit is not None else (np.abs(image).max() or 1)
                shown = ax.imshow(image, cmap=cmap, vmin=-bound, vmax=bound)
            else:
                shown = ax.imshow(image, cmap=cmap)
            if colorbar:
                bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
                bar.ax.tick_params(labelsize=7)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
