"""Figures shared by the notebooks, and `save_fig`, the one way they are written to disk.

`save_fig("06_training_curves")` writes `figures/06_training_curves.png` (or
`scratch/figures/...` in quick mode, so the committed figures are never overwritten).
"""
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from sklearn.metrics import confusion_matrix

from utils import config

DPI = 100


def save_fig(name, fig=None, dpi=DPI):
    """Save the current (or given) figure as `NAME.png` in the figures folder; return the path.

    Introduced in 01_data_exploration.
    """
    fig = fig or plt.gcf()
    path = config.figures_dir() / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def show_images(images, titles=None, ncols=10, size=1.2):
    """A grid of images, each with an optional title; returns the figure.

    Introduced in 01_data_exploration.
    """
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.25)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images)):
        ax.imshow(image)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def show_samples_per_class(images, labels, class_names, per_class=8, seed=0):
    """`per_class` random images of each class, one class per row, labelled on the left.

    Introduced in 01_data_exploration.
    """
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(class_names), per_class,
                             figsize=(per_class * 0.9, len(class_names) * 0.95))
    for row, name in enumerate(class_names):
        picks = rng.choice(np.flatnonzero(labels == row), per_class, replace=False)
        for col, index in enumerate(picks):
            ax = axes[row, col]
            ax.imshow(images[index])
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def plot_history(history, metrics=("loss", "accuracy"), best_epoch=None,
                 best_label="best val loss"):
    """Train vs validation curves, one panel per metric, from a history DataFrame.

    `history` has an `epoch` column and `METRIC` / `val_METRIC` columns, as returned by
    `training.fit()` or `training.load_history()`. A vertical line marks `best_epoch`,
    labelled `best_label`.
    Introduced in 06_training.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.8),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        ax.plot(history["epoch"], history[metric], "o-", ms=3, label="train")
        ax.plot(history["epoch"], history[f"val_{metric}"], "o-", ms=3, label="validation")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="gray", linestyle="--",
                       label=f"{best_label} (epoch {best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true, y_pred, class_names, normalize=False, ax=None):
    """A seaborn heatmap of the confusion matrix: counts, or row-normalised (recall per class).

    Introduced in 07_overfitting_analysis.
    """
    matrix = confusion_matrix(y_true, y_pred, normalize="true" if normalize else None)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 6.5))
    sns.heatmap(matrix, annot=True, fmt=".2f" if normalize else "d", cmap="Blues",
                xticklabels=class_names, yticklabels=class_names, cbar=False,
                annot_kws={"fontsize": 8}, ax=ax)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Row-normalised (recall)" if normalize else "Counts")
    return ax


def format_percent(probability):
    """A probability as a percentage, with enough digits to tell it from 0% and from 100%.

    0.5114 -> "51.1%", 0.00031 -> "0.031%", 0.99997 -> "99.997%", 9e-09 -> "9e-07%";
    exactly 0 and 1 give "0%" and "100%". Introduced in 08_sample_predictions.
    """
    percent = 100 * float(probability)
    if percent <= 0:
        return "0%"
    if percent >= 100:
        return "100%"
    if percent < 1e-4:
        return f"{percent:.0e}%"
    if percent < 0.1:  # two significant digits
        return f"{percent:.{1 - int(np.floor(np.log10(percent)))}f}%"
    if percent > 99.9:  # one significant digit of the distance to 100%
        return f"{percent:.{-int(np.floor(np.log10(100 - percent)))}f}%"
    return f"{percent:.1f}%"


def plot_top_k(image, probabilities, class_names, k=3, true_label=None, axes=None):
    """An image beside a bar chart of its `k` most probable classes, each bar labelled.

    With `true_label`, the true class's bar is green and the others red; without one (an
    image whose class is unknown), every bar has the same neutral blue.
    Introduced in 08_sample_predictions.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(5, 1.8), width_ratios=[1, 1.6])
    image_ax, bar_ax = axes
    image_ax.imshow(image)
    image_ax.axis("off")
    if true_label is not None:
        image_ax.set_title(f"true: {class_names[true_label]}", fontsize=9)
    top = np.argsort(probabilities)[::-1][:k]
    if true_label is None:
        colors = ["tab:blue"] * len(top)
    else:
        colors = ["tab:green" if c == true_label else "tab:red" for c in top]
    bar_ax.barh([class_names[c] for c in top][::-1], probabilities[top][::-1],
                color=colors[::-1])
    for y, probability in enumerate(probabilities[top][::-1]):
        inside = probability > 0.6  # long bars carry their value inside, in white
        bar_ax.text(probability - 0.02 if inside else probability + 0.02, y,
                    format_percent(probability), va="center", fontsize=7,
                    ha="right" if inside else "left", color="white" if inside else "black")
    bar_ax.set_xlim(0, 1)
    bar_ax.tick_params(labelsize=8)
    return axes


def plot_reliability(table, ax=None, label=None, color="C0", offset=0.0, width=0.9):
    """A reliability diagram from `calibration.reliability_table`: accuracy per confidence bin.

    Bars show each bin's accuracy; the diagonal is perfect calibration (accuracy equal to
    confidence). Bars below the diagonal mean over-confidence. `width` and `offset` are in
    units of the bin width: to compare two tables side by side in one panel, draw one with
    `offset=-0.225, width=0.45` and the other with `offset=0.225, width=0.45`.
    Introduced in 12_looking_inside.
    """
    ax = ax or plt.gca()
    bin_width = (table["high"] - table["low"]).iloc[0]
    centres = (table["low"] + table["high"]) / 2 + offset * bin_width
    ax.bar(centres, table["accuracy"].fillna(0), width=bin_width * width, alpha=0.6,
           color=color, edgecolor=color, label=label)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    return ax
