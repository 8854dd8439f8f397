"""How a network learns: softmax, cross-entropy, gradient descent, a gradient check, one SGD step.

Introduced in 04_how_a_network_learns. Each function is written out in that notebook first
and then used from here; the NumPy versions are checked against Keras in tests/test_learning.py.
"""
import math

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf


# --- From scores to a loss --------------------------------------------------------------

def softmax(logits):
    """Probabilities from logits along the last axis: exp(z_i) / sum_j exp(z_j).

    Subtracting the largest logit first changes nothing (the constant cancels) but keeps
    `exp` from overflowing. Introduced in 04_how_a_network_learns.
    """
    logits = np.asarray(logits, dtype="float64")
    exps = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True)


def cross_entropy(probabilities, labels):
    """Mean over the batch of -log(probability given to the true class).

    `probabilities` has shape (batch, classes), `labels` holds class indices, as Keras's
    sparse categorical cross-entropy takes them. Introduced in 04_how_a_network_learns.
    """
    probabilities = np.asarray(probabilities, dtype="float64")
    labels = np.asarray(labels)
    return float(-np.log(probabilities[np.arange(len(labels)), labels]).mean())


# --- Gradients ----------------------------------------------------------------------------

def gradient_descent(gradient, w0, learning_rate, steps):
    """Positions of plain gradient descent, w <- w - learning_rate * gradient(w).

    Returns an array of `steps + 1` positions, the start included. Works for a number or
    a NumPy vector. Introduced in 04_how_a_network_learns.
    """
    path = [np.asarray(w0, dtype="float64")]
    for _ in range(steps):
        path.append(path[-1] - learning_rate * gradient(path[-1]))
    return np.array(path)


def numerical_gradient(f, theta, eps=1e-5):
    """Centred finite differences, (f(theta + eps e_i) - f(theta - eps e_i)) / 2 eps, for every i.

    `e_i` is 1 at position i and 0 elsewhere, so only one parameter moves at a time. `f`
    maps a NumPy array to a number; `theta` is not changed. Use float64: in float32 the
    difference of two nearly equal losses loses most of its digits (the gradient check of
    CS231n, Stanford's course on CNNs). Introduced in 04_how_a_network_learns.
    """
    theta = np.array(theta, dtype="float64")
    grad = np.zeros_like(theta)
    for i in np.ndindex(theta.shape):
        saved = theta[i]
        theta[i] = saved + eps
        f_plus = f(theta)
        theta[i] = saved - eps
        f_minus = f(theta)
        theta[i] = saved
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """max |a - b| / max(|a| + |b|): about 1e-7 or less means two gradients agree.

    Introduced in 04_how_a_network_learns.
    """
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-30))


# --- Training -----------------------------------------------------------------------------

def sgd_step(model, x, y, loss_fn, learning_rate):
    """One step of plain SGD on one batch, as `model.fit` does it; returns the batch loss.

    Forward pass (outputs and loss from the inputs) under a `tf.GradientTape`, gradients of
    the loss with respect to every trainable weight, then w <- w - learning_rate * gradient.
    The loss is the one before the update. Introduced in 04_how_a_network_learns.
    """
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
        loss = loss_fn(y, predictions)
    gradients = tape.gradient(loss, model.trainable_variables)
    for weight, gradient in zip(model.trainable_variables, gradients):
        weight.assign(weight - learning_rate * gradient)
    return float(loss)


def steps_per_epoch(n_images, batch_size):
    """Optimizer steps in one pass over `n_images` (the last batch may be smaller).

    Introduced in 04_how_a_network_learns.
    """
    return math.ceil(n_images / batch_size)


def optimizer_path(optimizer, loss, start, steps):
    """Positions a Keras optimizer visits while minimising `loss(w)` from `start`.

    `loss` takes a vector variable and returns a scalar tensor. Returns an array of
    `steps + 1` positions. Introduced in 04_how_a_network_learns.
    """
    w = keras.Variable(np.asarray(start, dtype="float32"))
    path = [np.array(w.numpy(), dtype="float64")]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            value = loss(w)
        optimizer.apply_gradients([(tape.gradient(value, w), w)])
        path.append(np.array(w.numpy(), dtype="float64"))
    return np.array(path)


# --- Figures ------------------------------------------------------------------------------

def plot_descent_1d(loss, path, ax=None, title=None, span=None):
    """A one-parameter loss curve with the successive positions of gradient descent on it.

    The curve covers `span` (low, high), by default the path with a margin of 1. Dots go
    from dark (first step) to yellow (last). Introduced in 04_how_a_network_learns.
    """
    ax = ax or plt.gca()
    path = np.asarray(path, dtype="float64")
    low, high = span or (path.min() - 1, path.max() + 1)
    w = np.linspace(low, high, 400)
    ax.plot(w, loss(w), color="0.6", lw=1.5)
    ax.plot(path, loss(path), "-", color="C0", lw=0.8, alpha=0.6)
    ax.scatter(path, loss(path), c=np.arange(len(path)), cmap="viridis", s=22, zorder=3)
    ax.plot(path[0], loss(path[0]), "o", mfc="none", mec="k", ms=9, label="start")
    lowest = w[np.argmin(loss(w))]
    ax.plot(lowest, loss(lowest), "k*", ms=9, label="minimum")
    ax.set_xlabel("w")
    ax.set_ylabel("loss")
    ax.legend(loc="upper center", fontsize=8, ncols=2)
    if title:
        ax.set_title(title)
    return ax


def plot_paths_2d(loss, paths, ax=None, xlim=(-5, 5), ylim=(-3, 3), levels=15):
    """Contours of a two-parameter loss with each optimizer's path drawn on top.

    `loss` takes arrays w1, w2 and returns the loss; `paths` maps a label to an array of
    positions of shape (steps + 1, 2). Introduced in 04_how_a_network_learns.
    """
    ax = ax or plt.gca()
    w1, w2 = np.meshgrid(np.linspace(*xlim, 300), np.linspace(*ylim, 300))
    ax.contour(w1, w2, loss(w1, w2), levels=levels, colors="0.75", linewidths=0.8)
    for (label, path), color in zip(paths.items(), ["C0", "C1", "C3", "C2"]):
        ax.plot(path[:, 0], path[:, 1], "o-", ms=2.5, lw=1, color=color, label=label)
    ax.plot(*paths[next(iter(paths))][0], "ks", ms=6, label="start")
    ax.plot(0, 0, "k*", ms=10, label="minimum")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="lower right")
    return ax
