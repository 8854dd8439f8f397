"""Muon: an optimizer that gives every direction of a weight matrix's update the same size.

Introduced in 11_better_network_training, as the optimizer of the faster airbench94_muon
recipe (Keller Jordan, github.com/KellerJordan/cifar10-airbench, file airbench94_muon.py).
`utils.recipe` trains the better network with it.

The problem it solves, in plain words. The gradient of a convolution's kernel, seen as a
matrix (one row per output channel), is usually dominated by a few directions: a few
combinations of weights that the current batch wants to change a lot, and many that it
wants to change only a little. SGD steps along the gradient as it is, so the few strong
directions take almost all of the step and the many weak ones barely move, however long
we train. Muon keeps the directions of the (momentum-averaged) gradient but sets the
strength of each to about 1: in terms of the singular value decomposition
G = U S V^T, it steps along U V^T instead of U S V^T. Every direction then moves by about
the same amount, set by the learning rate alone, not by how loud the gradient is.

Computing U V^T exactly (an SVD) is slow, so Muon uses a Newton-Schulz iteration
(`newton_schulz`): a few rounds of X <- a X + b (X X^T) X + c (X X^T)^2 X, with
(a, b, c) = (3.4445, -4.7750, 2.0315), made only of matrix products. After scaling G so
that no singular value exceeds 1, each round pushes every singular value towards 1 (a
small one grows about 3.4x per round) without turning the singular vectors; the result
has singular values between about 0.7 and 1.2, which trains as well as exactly 1.

What this port does, as airbench94_muon does (its lines quoted in the comments):

- every trainable 4-D variable (the 3x3 convolution kernels) gets Muon: Nesterov momentum
  (buffer = momentum x buffer + gradient; update = gradient + momentum x buffer), then the
  weight is rescaled to Frobenius norm sqrt(output channels), then it steps by
  learning_rate x newton_schulz(update) (3 rounds, in bfloat16);
- every other trainable variable (biases, the Dense head) gets Nesterov SGD in PyTorch's
  form (buffer = momentum x buffer + gradient; weight -= lr x (gradient + momentum x
  buffer)), which equals `keras.optimizers.SGD(nesterov=True)` when the learning rate is
  constant, and equals PyTorch's SGD exactly when it follows a schedule.

Why one optimizer for both. Keras compiles a model with one optimizer. Keras 3.8 (the
oldest version this project supports) has no way to give different variables different
optimizers; newer versions have `keras.optimizers.MultiOptimizer` and a built-in
`keras.optimizers.Muon`, but that Muon only handles 2-D matrices (it sends 4-D kernels to
AdamW), pairs with AdamW rather than SGD and rescales its updates differently. So the
plainest design is this one class: Muon for 4-D kernels, chosen by shape (as the source's
`len(p.shape) == 4`), Nesterov SGD for the rest, each with its own learning rate and
momentum. `learning_rate_overrides` gives single variables, named by their `path`, a
learning rate of their own (airbench94_muon trains biases, the head and the whitening bias
at three different rates).

Weight decay: the source puts (coupled, L2) weight decay on the SGD variables only. Put it
there with `kernel_regularizer=`/`regularizer=` on those layers; leave the optimizer's
`weight_decay` unset (the base class would decay every variable with Muon's learning rate).

Loss conventions: Muon's step does not depend on the gradient's scale (it is normalised
away), so its learning rate (0.24) is the same whether the loss is summed, as in the
source, or averaged over the batch, as Keras does. The SGD learning rates are not: a
PyTorch learning rate `lr` on a loss summed over a batch of B images is `lr * B` here.
"""
import math

import keras
from keras import ops

from utils.custom_layers import PACKAGE

NEWTON_SCHULZ_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(matrix, steps=5, eps=1e-7, compute_dtype=None):
    """Approximately orthogonalise a 2-D matrix: U S V^T -> U S' V^T with S' near 1.

    The quintic Newton-Schulz iteration of airbench94_muon's `zeropower_via_newtonschulz5`
    (lines 32-54): scale the matrix by its Frobenius norm (so every singular value is at
    most 1), then `steps` times X <- a X + (b A + c A^2) X with A = X X^T. It works on the
    wide orientation (rows <= columns), so that A is the smaller of the two Gram matrices,
    and turns the result back. With 5 steps the singular values end up in about [0.7, 1.2]
    (for singular values not too far below the largest); the singular vectors do not change.

    `compute_dtype` is the dtype of the products ("bfloat16" as in the source, which is
    faster on recent hardware); None computes in the matrix's own dtype. The result has
    the matrix's dtype. airbench94_muon uses 3 steps (its default); 5 is the usual choice
    elsewhere, and the default here.
    """
    if len(matrix.shape) != 2:
        raise ValueError(f"newton_schulz expects a 2-D matrix, got shape {matrix.shape}")
    matrix = ops.convert_to_tensor(matrix)
    a, b, c = NEWTON_SCHULZ_COEFFICIENTS
    out_dtype = matrix.dtype
    x = ops.cast(matrix, compute_dtype or out_dtype)
    x = x / (ops.sqrt(ops.sum(ops.square(x))) + eps)  # top singular value <= 1
    tall = matrix.shape[0] > matrix.shape[1]
    if tall:
        x = ops.transpose(x)
    for _ in range(steps):
        gram = ops.matmul(x, ops.transpose(x))
        polynomial = b * gram + c * ops.matmul(gram, gram)
        x = a * x + ops.matmul(polynomial, x)
    if tall:
        x = ops.transpose(x)
    return ops.cast(x, out_dtype)


def orthogonalised_kernel_update(update, steps=3, compute_dtype="bfloat16"):
    """Newton-Schulz on a kernel's update, as a matrix with one row per output channel.

    PyTorch stores a conv kernel as (out, in, kh, kw) and the source orthogonalises
    `g.reshape(len(g), -1)`: rows are output channels. Keras stores (kh, kw, in, out), so
    `reshape(-1, out)` then a transpose gives the same rows, with the columns in another
    order. Newton-Schulz only multiplies by X^T X-type products, so reordering the columns
    before it just reorders them after it: the update is exactly PyTorch's, laid out the
    Keras way (tests/test_muon.py checks this against a literal NumPy copy of the source).
    """
    shape = update.shape
    matrix = ops.transpose(ops.reshape(update, (-1, shape[-1])))  # (out, kh * kw * in)
    matrix = newton_schulz(matrix, steps=steps, compute_dtype=compute_dtype)
    return ops.reshape(ops.transpose(matrix), shape)


def _serialize_rate(rate):
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return keras.optimizers.schedules.serialize(rate)
    return float(rate)


def _deserialize_rate(rate):
    if isinstance(rate, dict):
        return keras.optimizers.schedules.deserialize(rate)
    return rate


@keras.saving.register_keras_serializable(PACKAGE)
class Muon(keras.optimizers.Optimizer):
    """Muon for 4-D convolution kernels, Nesterov SGD for every other variable.

    Args:
        learning_rate: Muon's learning rate (float or `LearningRateSchedule`); 0.24 in
            airbench94_muon, with any loss reduction (see the module docstring).
        momentum, nesterov: Muon's momentum (0.6 in the source) and Nesterov flag.
        ns_steps: Newton-Schulz rounds per step (3 in the source).
        ns_dtype: dtype of the Newton-Schulz products ("bfloat16" as in the source;
            "float32" is slower and a little more exact).
        normalize_weights: before each step, rescale each kernel to Frobenius norm
            sqrt(output channels), as the source does (line 83).
        sgd_learning_rate: learning rate (float or schedule) of the other variables.
            For a PyTorch rate `lr` on a batch-summed loss, pass `lr * batch_size`.
        sgd_momentum, sgd_nesterov: their momentum (0.85 in the source) and flag.
        learning_rate_overrides: optional dict {variable.path: learning rate or schedule}
            for single variables (Muon or SGD ones) that need a rate of their own, such as
            `{"whitening_bias/bias": PolynomialDecay(lr, steps, 0.0)}`. A rate of zero
            leaves the variable unchanged, which freezes it.
        **kwargs: the base optimizer's arguments (name, clipnorm, ...), except
            `weight_decay`: use L2 regularizers on the SGD layers instead.
    """

    def __init__(self, learning_rate=0.24, momentum=0.6, nesterov=True, ns_steps=3,
                 ns_dtype="bfloat16", normalize_weights=True, sgd_learning_rate=0.01,
                 sgd_momentum=0.85, sgd_nesterov=True, learning_rate_overrides=None,
                 name="muon", **kwargs):
        if kwargs.get("weight_decay") is not None:
            raise ValueError("Muon: put weight decay on the layers as L2 regularizers "
                             "(the base class's weight_decay would use Muon's learning "
                             "rate for every variable).")
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for value, label in ((momentum, "momentum"), (sgd_momentum, "sgd_momentum")):
            if not 0 <= value < 1:
                raise ValueError(f"`{label}` must be in [0, 1), got {value}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.ns_steps, self.ns_dtype = int(ns_steps), ns_dtype
        self.normalize_weights = bool(normalize_weights)
        self.sgd_learning_rate = sgd_learning_rate
        self.sgd_momentum, self.sgd_nesterov = float(sgd_momentum), bool(sgd_nesterov)
        self.learning_rate_overrides = dict(learning_rate_overrides or {})

    @staticmethod
    def uses_muon(variable):
        """Muon for 4-D variables (conv kernels), as the source's `len(p.shape) == 4`."""
        return len(variable.shape) == 4

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        paths = [variable.path for variable in variables]
        unknown = sorted(set(self.learning_rate_overrides) - set(paths))
        if unknown:
            raise ValueError(f"learning_rate_overrides names no trained variable: {unknown}")
        # Decided here, once per variable, and looked up by index in update_step (where
        # the TensorFlow backend passes the raw tf.Variable, which has no `path`).
        self._muon_flags = [self.uses_muon(variable) for variable in variables]
        self._override_paths = [path if path in self.learning_rate_overrides else None
                                for path in paths]
        self.momentums = [self.add_variable_from_reference(reference_variable=variable,
                                                           name="momentum")
                          for variable in variables]

    def _rate(self, rate):
        """The value of a float or schedule at the current step."""
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            return rate(self.iterations)
        if callable(rate):
            return rate()
        return rate

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        muon = self._muon_flags[index]
        override = self._override_paths[index]
        if override is not None:
            learning_rate = self._rate(self.learning_rate_overrides[override])
        elif not muon:
            learning_rate = self._rate(self.sgd_learning_rate)
        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        momentum = self.momentum if muon else self.sgd_momentum
        nesterov = self.nesterov if muon else self.sgd_nesterov

        # buf.mul_(momentum).add_(g); g = g.add(buf, alpha=momentum) if nesterov else buf
        buffer = self.momentums[index]
        new_buffer = ops.add(ops.multiply(buffer, momentum), gradient)
        self.assign(buffer, new_buffer)
        update = ops.add(gradient, ops.multiply(new_buffer, momentum)) if nesterov \
            else new_buffer

        if not muon:  # PyTorch's SGD: p -= lr * update
            self.assign_sub(variable, ops.multiply(learning_rate, update))
            return
        weights = variable
        if self.normalize_weights:  # p.data.mul_(len(p.data)**0.5 / p.data.norm())
            out_channels = variable.shape[-1]  # len(p) in PyTorch's (out, in, kh, kw)
            norm = ops.sqrt(ops.sum(ops.square(variable)))
            weights = ops.multiply(variable, math.sqrt(out_channels) / norm)
        update = orthogonalised_kernel_update(update, self.ns_steps, self.ns_dtype)
        self.assign(variable, ops.subtract(weights, ops.multiply(learning_rate, update)))

    def get_config(self):
        config = super().get_config()
        config.pop("weight_decay", None)
        config.update({
            "momentum": self.momentum, "nesterov": self.nesterov,
            "ns_steps": self.ns_steps, "ns_dtype": self.ns_dtype,
            "normalize_weights": self.normalize_weights,
            "sgd_learning_rate": _serialize_rate(self.sgd_learning_rate),
            "sgd_momentum": self.sgd_momentum, "sgd_nesterov": self.sgd_nesterov,
            "learning_rate_overrides": {path: _serialize_rate(rate) for path, rate
                                        in self.learning_rate_overrides.items()},
        })
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["sgd_learning_rate"] = _deserialize_rate(config.get("sgd_learning_rate", 0.01))
        config["learning_rate_overrides"] = {
            path: _deserialize_rate(rate)
            for path, rate in (config.get("learning_rate_overrides") or {}).items()}
        return super().from_config(config, custom_objects=custom_objects)
