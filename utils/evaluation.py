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


def most_confident(probabilities, labels, correct, k=8):
    """Indices of the `k` most confident predictions that are right (`correct=True`) or wrong."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    candidates = np.flatnonzero((predicted == labels) == correct)
    return candidates[np.argsort(confidence[candidates], kind="stable")[::-1][:k]]
