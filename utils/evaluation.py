"""Diagnosing a trained classifier: where it errs, and how confident it is when it does.

Introduced in 07_overfitting_analysis.
"""
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix


def generalization_gap(history):
    """Per epoch: train minus validation accuracy, and validation minus train loss."""
    return pd.DataFrame({
        "epoch": history["epoch"],
        "accuracy gap": history["accuracy"] - history["val_accuracy"],
        "loss gap": history["val_loss"] - history["loss"],
    })


def most_confused_pairs(y_true, y_pred, class_names, k=5):
    """The `k` (true class, predicted class) pairs with the most mistakes, most first."""
    matrix = confusion_matrix(y_true, y_pred, labels=range(len(class_names)))
    np.fill_diagonal(matrix, 0)
    rows = [(class_names[t], class_names[p], int(matrix[t, p]))
            for t in range(len(class_names)) for p in range(len(class_names)) if matrix[t, p]]
    table = pd.DataFrame(rows, columns=["true", "predicted", "mistakes"])
    return table.sort_values("mistakes", ascending=False, kind="stable").head(k).reset_index(drop=True)


def runner_up(probabilities):
    """For each row of probabilities: the second most probable class and the top class's lead.

    The lead is `log(p1 / p2)`, which equals the difference between the two classes' logits
    (04_how_a_network_learns): the top class is `e ** lead` times as probable as the runner-up.
    It still tells predictions apart when the top probability rounds to 1.0 in float32.
    Returns `(second_classes, leads)`. Introduced in 08_sample_predictions.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(probabilities, axis=1)
    rows = np.arange(len(probabilities))
    first, second = order[:, -1], order[:, -2]
    with np.errstate(divide="ignore"):
        leads = np.log(probabilities[rows, first]) - np.log(probabilities[rows, second])
    return second, leads


def most_confident(probabilities, labels, correct, k=8):
    """Indices of the `k` most confident predictions that are right (`correct=True`) or wrong.

    Confidence is the top probability; ties (many float32 probabilities round to exactly 1.0)
    are broken by the lead over the runner-up class (`runner_up`).
    """
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    _, leads = runner_up(probabilities)
    candidates = np.flatnonzero((predicted == labels) == correct)
    order = np.lexsort((leads[candidates], confidence[candidates]))[::-1]
    return candidates[order[:k]]
