"""utils.learning: softmax and cross-entropy against Keras, the gradient check, one SGD step."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers, ops

from utils import learning, training


def test_worked_example_matches_the_hand_computation():
    probabilities = learning.softmax([[2.0, 1.0, 0.1]])
    np.testing.assert_allclose(probabilities, [[0.659, 0.242, 0.099]], atol=1e-3)
    assert learning.cross_entropy(probabilities, [0]) == pytest.approx(0.417, abs=1e-3)
    assert learning.cross_entropy(np.full((1, 10), 0.1), [3]) == pytest.approx(np.log(10))


def test_softmax_matches_keras_even_for_huge_logits():
    logits = np.random.default_rng(0).normal(scale=5, size=(6, 10)).astype("float32")
    logits[0] += 1_000  # a naive exp would overflow
    ours = learning.softmax(logits)
    theirs = ops.convert_to_numpy(ops.softmax(logits))
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=-1), 1.0)


def test_cross_entropy_matches_keras_from_probabilities_and_from_logits():
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2, size=(8, 10)).astype("float32")
    labels = rng.integers(0, 10, size=8)
    ours = learning.cross_entropy(learning.softmax(logits), labels)
    from_probabilities = keras.losses.SparseCategoricalCrossentropy()(labels, learning.softmax(logits))
    from_logits = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert float(from_probabilities) == pytest.approx(ours, rel=1e-5)
    assert float(from_logits) == pytest.approx(ours, rel=1e-5)


def float64_mlp():
    """Dense(5, relu) -> Dense(3) logits, in float64 so that finite differences are exact enough."""
    training.set_seed(3)
    return keras.Sequential([keras.Input((4,), dtype="float64"),
                             layers.Dense(5, activation="relu", dtype="float64"),
                             layers.Dense(3, dtype="float64")])


def test_finite_differences_agree_with_gradient_tape():
    model = float64_mlp()
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(7, 4)), rng.integers(0, 3, size=7)

    def loss_of(logits):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))

    with tf.GradientTape() as tape:
        loss = loss_of(model(x))
    tape_gradients = tape.gradient(loss, model.trainable_variables)

    for variable, tape_gradient in zip(model.trainable_variables, tape_gradients):
        original = variable.numpy().copy()

        def loss_at(values, variable=variable):
            variable.assign(values)
            return float(loss_of(model(x)))

        numeric = learning.numerical_gradient(loss_at, original)
        variable.assign(original)
        assert numeric.shape == original.shape
        assert learning.relative_error(numeric, tape_gradient.numpy()) < 1e-7, variable.path
        # The check can fail: a gradient 1% off is caught.
        assert learning.relative_error(numeric, 1.01 * tape_gradient.numpy()) > 1e-3


def test_numerical_gradient_leaves_its_input_alone():
    theta = np.array([1.0, -2.0, 0.5])
    gradient = learning.numerical_gradient(lambda t: float(np.sum(t ** 2)), theta)
    np.testing.assert_allclose(gradient, 2 * theta, rtol=1e-8)
    np.testing.assert_array_equal(theta, [1.0, -2.0, 0.5])


def tiny_cnn():
    return keras.Sequential([keras.Input((32, 32, 3)), layers.Rescaling(1 / 255),
                             layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2),
                             layers.Flatten(), layers.Dense(10, activation="softmax")])


def test_hand_written_sgd_step_gives_the_same_weights_as_model_fit():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=16)
    training.set_seed(0)
    model = tiny_cnn()
    start = model.get_weights()

    loss = learning.sgd_step(model, images, labels,
                             keras.losses.SparseCategoricalCrossentropy(), learning_rate=0.1)
    by_hand = model.get_weights()

    model.set_weights(start)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    history = model.fit(images, labels, batch_size=len(images), epochs=1, shuffle=False,
                        verbose=0)
    by_fit = model.get_weights()

    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-6)
    for hand, fit, before in zip(by_hand, by_fit, start):
        assert np.abs(fit - before).max() > 1e-4  # the step did move every tensor
        np.testing.assert_allclose(hand, fit, atol=1e-6)


def test_gradient_descent_converges_or_diverges_with_the_learning_rate():
    def gradient(w):
        return 2 * (w - 2)

    good = learning.gradient_descent(gradient, -2.0, 0.2, 30)
    assert good[:3] == pytest.approx([-2.0, -0.4, 0.56])
    assert good[-1] == pytest.approx(2.0, abs=1e-5)
    too_large = learning.gradient_descent(gradient, -2.0, 1.05, 30)
    assert abs(too_large[-1] - 2) > 4 * 1.1 ** 29


def test_keras_sgd_path_is_plain_gradient_descent():
    bowl = [1.0, 20.0]
    path = learning.optimizer_path(keras.optimizers.SGD(0.09),
                                   lambda w: 0.5 * (bowl[0] * w[0] ** 2 + bowl[1] * w[1] ** 2),
                                   [-4.5, 1.5], steps=10)
    by_hand = learning.gradient_descent(lambda w: np.array(bowl) * w, np.array([-4.5, 1.5]),
                                        0.09, 10)
    np.testing.assert_allclose(path, by_hand, rtol=1e-5, atol=1e-6)


def test_keras_momentum_is_a_running_sum_of_gradients():
    """04's rule: v <- 0.9 v + g, w <- w - lr * v, which Keras writes as v <- 0.9 v - lr * g, w <- w + v."""
    bowl = np.array([1.0, 20.0])
    path = learning.optimizer_path(keras.optimizers.SGD(0.01, momentum=0.9),
                                   lambda w: 0.5 * (bowl[0] * w[0] ** 2 + bowl[1] * w[1] ** 2),
                                   [-4.5, 1.5], steps=20)
    w, v, by_hand = np.array([-4.5, 1.5]), np.zeros(2), [np.array([-4.5, 1.5])]
    for _ in range(20):
        v = 0.9 * v + bowl * w
        w = w - 0.01 * v
        by_hand.append(w)
    np.testing.assert_allclose(path, np.array(by_hand), rtol=1e-4, atol=1e-5)


def test_steps_per_epoch():
    assert learning.steps_per_epoch(45_000, 36) == 1_250
    assert learning.steps_per_epoch(10, 3) == 4
