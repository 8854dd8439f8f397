"""The networks the notebooks train, built with `keras` layers only.

Every model takes raw uint8 images `(32, 32, 3)` and does its own preprocessing, so a
saved model can be used on a photo without remembering how the inputs were scaled.
"""
import keras
from keras import layers

INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 10


def conv_block(x, filters, dropout=0.25, regularizer=None):
    """Conv 3x3 (ReLU) -> BatchNorm -> MaxPool 2x2 -> Dropout: one block of the baseline.

    Introduced in 05_cnn_construction. `regularizer` (09) penalises the kernel's weights.
    """
    x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                      kernel_regularizer=regularizer)(x)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(2)(x)
    return layers.Dropout(dropout)(x)


def build_baseline_cnn(name="baseline_cnn", dropout=True, l2=0.0, augmentation=None):
    """The original project's CNN: three conv blocks (64/128/256) and a dense softmax head.

    Inputs are scaled by 1/255 inside the model. Introduced in 05_cnn_construction. The
    options switch the remedies of 09_fixing_overfitting: `dropout=False` sets every dropout
    rate to 0; `l2` adds `l2 * sum(w**2)` of every kernel to the loss; `augmentation` is a
    layer applied to the images first (it acts only in training).
    """
    regularizer = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    x = layers.Rescaling(1 / 255, name="rescale")(x)
    for filters in (64, 128, 256):
        x = conv_block(x, filters, dropout=0.25 if dropout else 0.0, regularizer=regularizer)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu", kernel_regularizer=regularizer)(x)
    x = layers.Dense(128, activation="relu", kernel_regularizer=regularizer)(x)
    x = layers.Dropout(0.5 if dropout else 0.0)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", kernel_regularizer=regularizer,
                           name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def compile_baseline(model, learning_rate=1e-3):
    """Compile as the original did: Adam, sparse categorical cross-entropy, accuracy."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_small_cnn(preprocessing, name="small_cnn"):
    """A small two-block CNN behind a given preprocessing layer, for quick experiments.

    Introduced in 04_how_a_network_learns, which compares input scalings on it.
    """
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = preprocessing(inputs)
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def standardization_layer(x_train):
    """A `Normalization` layer adapted on training images: per-channel mean 0, std 1.

    Introduced in 02_normalization. Adapt on the training split only, never on
    validation or test images.
    """
    layer = layers.Normalization(axis=-1, name="standardize")
    layer.adapt(x_train.astype("float32"))
    return layer
