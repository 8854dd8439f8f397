"""Shared code for the cifar10-cnn notebooks: data, models, training, plots, prediction.

Every notebook imports from here (`from utils import data, plots, training`), so each
piece of logic is written once and unit-tested in tests/.
"""
