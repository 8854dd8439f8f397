"""utils.muon: Newton-Schulz, the Muon/SGD update rules against NumPy copies of the source."""
import keras
import numpy as np
import pytest

from utils import muon

A, B, C = 3.4445, -4.7750, 2.0315


def to_numpy(x):
    return keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))


# --- NumPy copies of airbench94_muon.py, in PyTorch's (out, in, kh, kw) layout ---------------

def reference_newton_schulz(g, steps, eps=1e-7):
    """zeropower_via_newtonschulz5 (lines 32-54), in float64."""
    x = g / (np.linalg.norm(g) + eps)
    if g.shape[0] > g.shape[1]:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = A * x + (B * gram + C * gram @ gram) @ x
    return x.T if g.shape[0] > g.shape[1] else x


def reference_muon_step(weight, grad, buf, lr, momentum=0.6, nesterov=True, steps=3):
    """Muon.step (lines 67-85) for one PyTorch-layout kernel; returns (weight, buf)."""
    buf = momentum * buf + grad
    g = grad + momentum * buf if nesterov else buf
    weight = weight * (len(weight) ** 0.5 / np.linalg.norm(weight))
    update = reference_newton_schulz(g.reshape(len(g), -1), steps).reshape(g.shape)
    return weight - lr * update, buf


def reference_sgd_step(weight, grad, buf, lr, momentum=0.85):
    """torch.optim.SGD(momentum, nesterov=True) without weight decay."""
    buf = momentum * buf + grad
    return weight - lr * (grad + momentum * buf), buf


TO_TORCH, TO_KERAS = (3, 2, 0, 1), (2, 3, 1, 0)  # (kh, kw, in, out) <-> (out, in, kh, kw)


# --- Newton-Schulz --------------------------------------------------------------------------

SHAPES = [(32, 128), (128, 32), (64, 576), (300, 40)]


def spread_matrix(shape, seed, condition=20.0):
    """A random matrix whose singular values spread evenly (in log) from 1 down to 1/condition."""
    rng = np.random.default_rng(seed)
    rank = min(shape)
    u = np.linalg.qr(rng.normal(size=(shape[0], rank)))[0]
    v = np.linalg.qr(rng.normal(size=(shape[1], rank)))[0]
    return u @ np.diag(np.geomspace(1.0, 1.0 / condition, rank)) @ v.T


@pytest.mark.parametrize("shape", SHAPES)
def test_newton_schulz_singular_values_in_band(shape):
    for g in (np.random.default_rng(0).normal(size=shape), spread_matrix(shape, seed=0)):
        x = to_numpy(muon.newton_schulz(g.astype("float32"), steps=5))
        assert x.shape == shape
        singular_values = np.linalg.svd(x, compute_uv=False)
        assert singular_values.min() > 0.5 and singular_values.max() < 1.5
    # The spread matrix's singular values went from a 20x spread to a narrow band.
    assert singular_values.max() / singular_values.min() < 2


@pytest.mark.parametrize("shape", SHAPES)
def test_newton_schulz_keeps_singular_vectors(shape):
    g = spread_matrix(shape, seed=1)
    u, _, vt = np.linalg.svd(g, full_matrices=False)
    x = to_numpy(muon.newton_schulz(g.astype("float32"), steps=5)).astype("float64")
    orthogonal = u @ vt
    cosine = np.sum(x * orthogonal) / (np.linalg.norm(x) * np.linalg.norm(orthogonal))
    assert cosine > 0.97
    # In the singular bases the result is diagonal: only the singular values changed.
    core = u.T @ x @ vt.T
    off_diagonal = core - np.diag(np.diag(core))
    assert np.linalg.norm(off_diagonal) < 1e-3 * np.linalg.norm(core)


def test_newton_schulz_matches_source_and_rejects_non_matrices():
    g = np.random.default_rng(2).normal(size=(16, 40))
    np.testing.assert_allclose(to_numpy(muon.newton_schulz(g.astype("float32"), steps=3)),
                               reference_newton_schulz(g, 3), atol=2e-5)
    bf16 = to_numpy(muon.newton_schulz(g.astype("float32"), steps=3, compute_dtype="bfloat16"))
    error = np.linalg.norm(bf16 - reference_newton_schulz(g, 3))
    assert error < 0.08 * np.linalg.norm(bf16)  # bfloat16 rounding: about 3%
    with pytest.raises(ValueError):
        muon.newton_schulz(np.zeros((2, 3, 4), "float32"))


# --- The optimizer --------------------------------------------------------------------------

def run_steps(optimizer, variables, gradients):
    """Apply a list of gradient lists, one per step; return the values after each step."""
    history = []
    for step_gradients in gradients:
        optimizer.apply_gradients(zip(step_gradients, variables))
        history.append([to_numpy(v) for v in variables])
    return history


@pytest.mark.parametrize("kernel_shape", [(3, 3, 8, 16), (3, 3, 2, 32)])  # wide and tall
def test_muon_kernel_update_matches_source(kernel_shape):
    rng = np.random.default_rng(3)
    start = rng.normal(size=kernel_shape).astype("float32")
    gradients = [[rng.normal(size=kernel_shape).astype("float32")] for _ in range(2)]
    kernel = keras.Variable(start, name="kernel")
    schedule = keras.optimizers.schedules.PolynomialDecay(0.24, 10, 0.0)  # 0.24 (1 - step / 10)
    optimizer = muon.Muon(schedule, momentum=0.6, nesterov=True, ns_dtype="float32")
    history = run_steps(optimizer, [kernel], gradients)

    weight = start.transpose(TO_TORCH).astype("float64")
    buf = np.zeros_like(weight)
    for step, ([grad], [after]) in enumerate(zip(gradients, history)):
        grad = grad.transpose(TO_TORCH).astype("float64")
        weight, buf = reference_muon_step(weight, grad, buf, lr=0.24 * (1 - step / 10))
        np.testing.assert_allclose(after, weight.transpose(TO_KERAS), atol=1e-4)


def test_muon_in_bfloat16_is_close_and_normalises_the_weight():
    rng = np.random.default_rng(4)
    start = 5 * rng.normal(size=(3, 3, 8, 16)).astype("float32")
    grad = rng.normal(size=start.shape).astype("float32")
    results = {}
    for dtype in ("float32", "bfloat16"):
        kernel = keras.Variable(start)
        muon.Muon(0.24, ns_dtype=dtype).apply_gradients([(grad, kernel)])
        results[dtype] = to_numpy(kernel)
    change = results["float32"] - start
    assert np.linalg.norm(results["bfloat16"] - results["float32"]) < 0.08 * np.linalg.norm(change)
    kernel = keras.Variable(start)
    muon.Muon(0.0).apply_gradients([(grad, kernel)])  # learning rate 0: only the rescaling
    assert np.linalg.norm(to_numpy(kernel)) == pytest.approx(np.sqrt(16), rel=1e-5)


def test_other_variables_get_nesterov_sgd():
    rng = np.random.default_rng(5)
    starts = [rng.normal(size=(10,)).astype("float32"), rng.normal(size=(6, 4)).astype("float32")]
    gradients = [[rng.normal(size=s.shape).astype("float32") for s in starts] for _ in range(3)]
    schedule = keras.optimizers.schedules.PolynomialDecay(2.0, 4, 0.0)  # 2 (1 - step / 4)
    variables = [keras.Variable(s) for s in starts]
    optimizer = muon.Muon(0.24, sgd_learning_rate=schedule, sgd_momentum=0.85)
    history = run_steps(optimizer, variables, gradients)
    for i, start in enumerate(starts):
        weight, buf = start.astype("float64"), np.zeros(start.shape)
        for step in range(3):
            weight, buf = reference_sgd_step(weight, gradients[step][i], buf,
                                             lr=2.0 * (1 - step / 4), momentum=0.85)
            np.testing.assert_allclose(history[step][i], weight, rtol=1e-5, atol=1e-5)

    # With a constant rate it is Keras' own Nesterov SGD.
    ours, theirs = keras.Variable(starts[1]), keras.Variable(starts[1])
    run_steps(muon.Muon(0.24, sgd_learning_rate=0.1), [ours], [g[1:] for g in gradients])
    run_steps(keras.optimizers.SGD(0.1, momentum=0.85, nesterov=True), [theirs],
              [g[1:] for g in gradients])
    np.testing.assert_allclose(to_numpy(ours), to_numpy(theirs), rtol=1e-5, atol=1e-6)


def test_learning_rate_overrides_by_path():
    frozen, trained = keras.Variable(np.ones(3, "float32"), name="frozen"), \
        keras.Variable(np.ones(3, "float32"), name="trained")
    optimizer = muon.Muon(sgd_learning_rate=0.1, learning_rate_overrides={frozen.path: 0.0})
    optimizer.apply_gradients([(np.ones(3, "float32"), frozen), (np.ones(3, "float32"), trained)])
    np.testing.assert_array_equal(to_numpy(frozen), np.ones(3))
    assert np.all(to_numpy(trained) < 1)
    with pytest.raises(ValueError, match="no trained variable"):
        muon.Muon(learning_rate_overrides={"typo/bias": 0.0}).build([trained])
    with pytest.raises(ValueError, match="regularizers"):
        muon.Muon(weight_decay=0.01)


def test_config_round_trip():
    schedule = keras.optimizers.schedules.PolynomialDecay(106.0, 75, 0.0)
    optimizer = muon.Muon(keras.optimizers.schedules.PolynomialDecay(0.24, 200, 0.0),
                          sgd_learning_rate=1340.0, learning_rate_overrides={"w/bias": schedule})
    copy = muon.Muon.from_config(optimizer.get_config())
    assert copy.get_config() == optimizer.get_config()
    assert float(copy.learning_rate_overrides["w/bias"](75)) == 0.0


def test_tiny_network_trains():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, 10, size=64)
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(16, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(scale=False),
        keras.layers.Activation("gelu"),
        keras.layers.Conv2D(32, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(scale=False),
        keras.layers.Activation("gelu"),
        keras.layers.GlobalMaxPooling2D(),
        keras.layers.Dense(10, use_bias=False),
    ])
    model.compile(optimizer=muon.Muon(0.1, sgd_learning_rate=0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    losses = [float(model.train_on_batch(images, labels)) for _ in range(15)]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.8 * losses[0]
