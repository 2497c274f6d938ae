"""Layers: gradcheck of every built-in layer and loss, batch axes, seed-style construction."""

import numpy as np
import pytest

import fastnn
import kernels as K
from fastnn import (
    ActivationLayer,
    ConvLayer,
    DropoutLayer,
    FCLayer,
    FlattenLayer,
    LeakyReLU,
    MaxPoolLayer,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    gradcheck,
    gradcheck_loss,
)
from fastnn import activations as A
from fastnn import losses as L
from fastnn.gradcheck import GradcheckError

RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.standard_normal(shape)


LAYERS = {
    "fc": (lambda: FCLayer(4, 3), lambda: _x(5, 4)),
    "fc-seed-shapes": (lambda: FCLayer((1, 4), (1, 3)), lambda: _x(1, 4)),
    "tanh": (lambda: ActivationLayer(A.tanh, A.tanh_prime), lambda: _x(5, 4)),
    "tanh-class": (Tanh, lambda: _x(5, 4)),
    "sigmoid": (Sigmoid, lambda: _x(5, 4)),
    "relu": (ReLU, lambda: _x(5, 4)),
    "leaky_relu": (lambda: LeakyReLU(0.1), lambda: _x(5, 4)),
    "softmax": (Softmax, lambda: _x(5, 4)),
    "user-functions": (lambda: ActivationLayer(np.sin, np.cos), lambda: _x(5, 4)),
    "conv": (lambda: ConvLayer((6, 5, 2), (3, 2), 3), lambda: _x(2, 6, 5, 2)),
    "conv-unbatched": (lambda: ConvLayer((6, 5, 2), (3, 2), 3), lambda: _x(6, 5, 2)),
    "conv-1x1": (lambda: ConvLayer((4, 4, 3), (1, 1), 2), lambda: _x(2, 4, 4, 3)),
    "conv-stride-padding": (lambda: ConvLayer((7, 6, 2), (3, 2), 3, (2, 3), (1, 2)), lambda: _x(2, 7, 6, 2)),
    "conv-same-even": (lambda: ConvLayer((5, 4, 1), (2, 2), 2, padding="same"), lambda: _x(3, 5, 4, 1)),
    "maxpool": (lambda: MaxPoolLayer(2), lambda: _x(2, 4, 6, 3)),
    "avgpool": (lambda: fastnn.AvgPoolLayer(2), lambda: _x(2, 4, 6, 3)),
    "avgpool-unbatched-size-3": (lambda: fastnn.AvgPoolLayer(3), lambda: _x(6, 3, 2)),
    "global-avgpool": (fastnn.GlobalAvgPoolLayer, lambda: _x(3, 4, 5, 2)),
    "global-avgpool-unbatched-1x1": (fastnn.GlobalAvgPoolLayer, lambda: _x(1, 1, 3)),
    "flatten": (FlattenLayer, lambda: _x(2, 3, 3, 2)),
    "batchnorm-eval-features": (lambda: fastnn.BatchNormLayer(4), lambda: _x(5, 4)),
}


def test_every_layer_type_has_a_gradcheck_case():
    """A new layer class cannot land without a case above (training-mode dropout has its own test)."""
    checked = {type(make()) for make, _ in LAYERS.values()} | {DropoutLayer}
    missing = sorted(name for name, cls in fastnn.layers.LAYER_TYPES.items() if cls not in checked)
    assert not missing, f"no gradcheck case for {missing}"


@pytest.mark.parametrize("name", LAYERS)
def test_gradcheck_every_layer(name):
    make_layer, make_x = LAYERS[name]
    assert gradcheck(make_layer(), make_x())


def test_gradcheck_dropout_while_training_and_a_wrong_mask_fails():
    """Training-mode dropout (a mask drawn per forward, the same one for every evaluation): the
    backward must scale by that mask; one that ignores it is caught."""
    layer = DropoutLayer(0.5, rng=np.random.default_rng(3))
    x = _x(6, 5)
    assert gradcheck(layer, x, training=True)
    assert not np.array_equal(layer.forward(x, training=True), x)  # the mask is really applied

    class IgnoresMask(DropoutLayer):
        def backward(self, dy):
            return dy

    with pytest.raises(GradcheckError):
        gradcheck(IgnoresMask(0.5, rng=np.random.default_rng(3)), x, training=True)


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 2, 4), (1, 2, 2, 3)])
def test_gradcheck_batchnorm_while_training(shape):
    """Training mode: the gradient flows through the batch's mean and variance too."""
    layer = fastnn.BatchNormLayer(shape[-1], momentum=0.2)
    layer.weights[:] = RNG.standard_normal(shape[-1])
    layer.bias[:] = RNG.standard_normal(shape[-1])
    assert gradcheck(layer, _x(*shape), training=True)


def test_batchnorm_running_statistics_move_in_fit_and_serve_predict():
    layer = fastnn.BatchNormLayer(3, momentum=0.5)
    x = _x(8, 3) * 2 + 1
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.running_mean, 0.5 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.5 + 0.5 * x.var(axis=0, ddof=1))
    y = layer.forward(x)  # inference: the running statistics, not the batch's
    np.testing.assert_allclose(y, (x - layer.running_mean) / np.sqrt(layer.running_var + 1e-5))


def test_gradcheck_can_fail():
    class Wrong(Tanh):
        def backward(self, dy):
            return 1.01 * super().backward(dy)

    with pytest.raises(GradcheckError, match="input"):
        gradcheck(Wrong(), _x(3, 3))


@pytest.mark.parametrize(
    "loss,prime,y_true,y_pred",
    [
        (L.mse, L.mse_prime, _x(4, 3), _x(4, 3)),
        (
            L.binary_cross_entropy,
            L.binary_cross_entropy_prime,
            (RNG.random((6, 1)) < 0.5) * 1.0,
            RNG.uniform(0.05, 0.95, (6, 1)),
        ),
        (L.cross_entropy, L.cross_entropy_prime, np.eye(3)[[0, 2, 1, 1]], RNG.uniform(0.05, 0.95, (4, 3))),
        (
            lambda t, z: K.softmax_cross_entropy(z, t)[0],
            lambda t, z: K.softmax_cross_entropy(z, t)[1],
            np.array([0, 2, 1, 1]),
            _x(4, 3),
        ),
    ],
    ids=["mse", "bce", "cross_entropy", "fused-softmax-ce"],
)
def test_gradcheck_every_loss(loss, prime, y_true, y_pred):
    assert gradcheck_loss(loss, prime, y_true, y_pred)


def test_fc_layer_constructors_and_seed_init():
    np.random.seed(5)
    a = FCLayer((1, 2), (1, 3))
    np.random.seed(5)
    w, b = np.random.rand(2, 3) - 0.5, np.random.rand(1, 3) - 0.5
    assert np.array_equal(a.weights, w) and np.array_equal(a.bias, b)
    assert a.input_shape == (1, 2) and a.output_shape == (1, 3)
    c = FCLayer(2, 3)
    assert c.weights.shape == (2, 3) and c.bias.shape == (1, 3)
    assert fastnn.Dense is FCLayer
    d = FCLayer(20, 10, initializer="xavier", rng=0)
    assert np.all(np.abs(d.weights) <= np.sqrt(6 / 30)) and not d.bias.any()
    with pytest.raises(ValueError, match="initializer"):
        FCLayer(2, 3, initializer="orthogonal")


def test_activation_layer_forms():
    x = _x(3, 4)
    seed_form = ActivationLayer((1, 4), A.tanh, A.tanh_prime)
    assert seed_form.builtin is not None and seed_form.input_shape == (1, 4)
    assert ActivationLayer("relu").name == "relu"
    np.testing.assert_allclose(ActivationLayer(A.tanh, A.tanh_prime).forward_propagation(x), np.tanh(x), rtol=1e-15)
    custom = ActivationLayer(np.sin, np.cos)  # not recognised: called as given
    assert custom.builtin is None
    np.testing.assert_array_equal(custom.forward_propagation(x), np.sin(x))
    np.testing.assert_array_equal(custom.backward_propagation(np.ones_like(x), 0.1), np.cos(x))
    with pytest.raises(ValueError, match="activation must be one of"):
        ActivationLayer("swish")
    with pytest.raises(ValueError, match="derivative"):
        ActivationLayer(np.sin)


def test_every_layer_takes_a_batch_axis():
    x = _x(7, 8, 8, 1)
    net = [ConvLayer((8, 8, 1), (3, 3), 4), ReLU(), MaxPoolLayer(2), FlattenLayer(), FCLayer(36, 5), Softmax()]
    out = x
    for layer in net:
        out = layer.forward(out)
    assert out.shape == (7, 5)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    one = x[0]
    for layer in net:
        one = layer.forward(one)
    np.testing.assert_allclose(one, out[:1], atol=1e-12)  # an unbatched image is a batch of one


def _splitmix64_uniforms(key, n):
    """The twin of fastnn.ops.reshape.keep_flags' stream: splitmix64 of key + k * golden ratio
    (k = 1..n), the top 53 bits over 2**53."""
    k = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(key) + k * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53


def test_dropout_keeps_where_a_splitmix64_uniform_keyed_by_one_draw_reaches_the_rate():
    """Each training forward takes one uniform from the layer's generator as the key of a counter-
    based stream; element k (C order) is kept when the stream's k-th uniform is >= rate. The next
    forward takes the next draw: a fresh mask."""
    x = np.ones((100, 40))
    layer, twin = DropoutLayer(0.3, rng=np.random.default_rng(5)), np.random.default_rng(5)
    for _ in range(2):
        y = layer.forward(x, training=True)
        u = _splitmix64_uniforms(int(twin.random() * 2.0**53), x.size)
        np.testing.assert_array_equal(y.ravel() != 0, u >= 0.3)
        # the uniforms are uniform: 10 bins of 4,000 values, chi-squared under its 0.1% point (9 dof)
        counts = np.histogram(u, bins=10, range=(0.0, 1.0))[0]
        assert ((counts - 400.0) ** 2 / 400.0).sum() < 27.9
    first = layer.forward(x, training=True)
    assert 0.3 < (first != layer.forward(x, training=True)).mean() < 0.6  # masks differ batch to batch


def test_dropout_backward_of_another_dtype_meets_the_forwards_mask_as_numpy_promotes():
    """A float32 forward's mask is float32 (1 / 0.7 rounded there); a float64 gradient meets it as
    numpy promotes the two, as the layer's ``dy * mask`` always did."""
    layer = DropoutLayer(0.3, rng=np.random.default_rng(2))
    mask = layer.forward(np.ones((20, 10), np.float32), training=True)
    dy = np.random.default_rng(3).standard_normal((20, 10))
    dx = layer.backward(dy)
    assert mask.dtype == np.float32 and dx.dtype == np.float64
    np.testing.assert_array_equal(dx, dy * mask)
    np.testing.assert_array_equal(layer.backward(dy.astype(np.float32)), dy.astype(np.float32) * mask)


def test_dropout_only_while_training_and_from_the_given_generator():
    x = np.ones((200, 50))
    layer = DropoutLayer(0.3, rng=np.random.default_rng(1))
    assert layer.forward(x, training=False) is x
    y = layer.forward(x, training=True)
    kept = y != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], 1 / 0.7)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)
    again = DropoutLayer(0.3, rng=np.random.default_rng(1)).forward(x, training=True)
    np.testing.assert_array_equal(again, y)
    with pytest.raises(ValueError, match="rate"):
        DropoutLayer(1.0)


def test_conv_layer_shapes_and_fixed_bias():
    conv = ConvLayer(input_shape=(5, 5, 3), kernel_shape=(3, 3), layer_depth=2)
    assert conv.weights.shape == (3, 3, 3, 2) and conv.bias.shape == (2,) and conv.output_shape == (3, 3, 2)
    conv.weights[:] = 0
    conv.bias[:] = [1.0, -2.0]
    out = conv.forward_propagation(_x(5, 5, 3))
    np.testing.assert_array_equal(out[..., 0], 1.0)  # once per output channel, not 3 times
    with pytest.raises(ValueError, match=r"\(5, 5, 3\)"):
        conv.forward_propagation(_x(5, 5, 2))


def test_layer_dtype_conversion_keeps_float32():
    layer = FCLayer(3, 2).astype(np.float32)
    y = layer.forward(_x(4, 3).astype(np.float32))
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["weights"].dtype == layer.grads["bias"].dtype == np.float32


def test_a_user_derivative_is_used_even_with_a_builtin_activation():
    calls = []

    def my_prime(x):
        calls.append(1)
        return A.tanh_prime(x)

    layer = ActivationLayer(A.tanh, my_prime)
    assert layer.builtin is None
    layer.forward_propagation(_x(2, 2))
    layer.backward_propagation(np.ones((2, 2)), 0.1)
    assert calls == [1]
