"""The compiled epoch loop (fastnn.engine) against the layer-by-layer path: identical numbers."""

import numpy as np
import pytest

import fastnn
import fastnn.training as training_module
from fastnn import (
    ConvLayer,
    FCLayer,
    FlattenLayer,
    LeakyReLU,
    MaxPoolLayer,
    Network,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    numpy_path,
)


def _mlp(act, n_in, n_out, last, seed):
    return [
        FCLayer(n_in, 7, rng=seed),
        act(),
        FCLayer(7, 5, rng=seed + 1),
        act(),
        FCLayer(5, n_out, rng=seed + 2),
        *([last()] if last else []),
    ]


def _cnn(seed, pool, big=False):
    if big:  # above kernels.conv.IM2COL_MIN_MACS per batch: the IM2COL algorithm
        return [
            ConvLayer((12, 12, 3), (3, 3), 8, rng=seed),
            ReLU(),
            FlattenLayer(),
            FCLayer(800, 3, rng=seed + 1),
            Softmax(),
        ]
    layers = [ConvLayer((6, 6, 2), (3, 3), 4, rng=seed), ReLU()]
    if pool:
        layers += [MaxPoolLayer(2), FlattenLayer(), FCLayer(16, 3, rng=seed + 1)]
    else:
        layers += [FlattenLayer(), FCLayer(64, 3, rng=seed + 1)]
    return layers + [Softmax()]


CASES = {
    "xor-tanh-mse-sgd": dict(layers=lambda s: _mlp(Tanh, 2, 1, Tanh, s), loss="mse", task="binary", opt="sgd", bs=1),
    "sigmoid-bce-momentum": dict(
        layers=lambda s: _mlp(Sigmoid, 2, 1, Sigmoid, s),
        loss="binary_cross_entropy",
        task="binary",
        opt="momentum",
        bs=3,
    ),
    "relu-ce-adam-shuffle": dict(
        layers=lambda s: _mlp(ReLU, 2, 3, Softmax, s),
        loss="cross_entropy",
        task="labels",
        opt="adam",
        bs=4,
        shuffle=True,
    ),
    "leaky-ce-onehot-rmsprop": dict(
        layers=lambda s: _mlp(lambda: LeakyReLU(0.1), 2, 3, Softmax, s),
        loss="cross_entropy",
        task="onehot",
        opt="rmsprop",
        bs=5,
    ),
    "relu-mse-onehot-fullbatch": dict(
        layers=lambda s: _mlp(ReLU, 2, 3, None, s), loss="mse", task="onehot", opt="sgd", bs=100
    ),
    "cnn-ce-sgd-per-sample": dict(
        layers=lambda s: _cnn(s, pool=False), loss="cross_entropy", task="images", opt="sgd", bs=1
    ),
    # The tutorials' ConvLayer(..., 1): one filter, per sample (the one-filter direct loops).
    "cnn-one-filter-tanh-mse-sgd-per-sample": dict(
        layers=lambda s: [
            ConvLayer((6, 6, 2), (3, 3), 1, rng=s),
            Tanh(),
            FlattenLayer(),
            FCLayer(16, 3, rng=s + 1),
            Tanh(),
        ],
        loss="mse",
        task="images-onehot",
        opt="sgd",
        bs=1,
    ),
    "cnn-gemm-ce-momentum-batch16": dict(
        layers=lambda s: _cnn(s, pool=False, big=True), loss="cross_entropy", task="big-images", opt="momentum", bs=16
    ),
    # One input channel and few filters: kernels.conv's PLANAR forward loops, LeNet-5's first layer.
    "cnn-planar-pool-ce-adam-batch16": dict(
        layers=lambda s: [
            ConvLayer((16, 16, 1), (5, 5), 6, rng=s),
            ReLU(),
            MaxPoolLayer(2),
            FlattenLayer(),
            FCLayer(216, 3, rng=s + 1),
            Softmax(),
        ],
        loss="cross_entropy",
        task="big-gray",
        opt="adam",
        bs=16,
    ),
    # 32 channels in and out, 3x3: kernels.conv's WINOGRAD, 'same' padding and valid, with batch norm.
    "cnn-winograd-bn-ce-adam-batch8": dict(
        layers=lambda s: [
            ConvLayer((6, 6, 32), (3, 3), 32, padding="same", rng=s),
            fastnn.BatchNormLayer(32),
            ReLU(),
            ConvLayer((6, 6, 32), (3, 3), 32, rng=s + 1),
            ReLU(),
            FlattenLayer(),
            FCLayer(512, 3, rng=s + 2),
            Softmax(),
        ],
        loss="cross_entropy",
        task="wide",
        opt="adam",
        bs=8,
    ),
    "cnn-pool-ce-adam-batch": dict(
        layers=lambda s: _cnn(s, pool=True), loss="cross_entropy", task="images", opt="adam", bs=8, shuffle=True
    ),
    # Two max-pools in one batch: each keeps its own argmax in the integer workspace.
    "cnn-two-pools-ce-sgd-batch": dict(
        layers=lambda s: [
            ConvLayer((13, 13, 2), (2, 2), 4, rng=s),
            ReLU(),
            MaxPoolLayer(2),
            MaxPoolLayer(3),
            FlattenLayer(),
            FCLayer(16, 3, rng=s + 1),
            Softmax(),
        ],
        loss="cross_entropy",
        task="images13",
        opt="sgd",
        bs=8,
    ),
    "cnn-avgpool-ce-momentum-batch": dict(
        layers=lambda s: [
            ConvLayer((13, 13, 2), (2, 2), 4, rng=s),
            Tanh(),
            fastnn.AvgPoolLayer(2),
            fastnn.AvgPoolLayer(3),
            FlattenLayer(),
            FCLayer(16, 3, rng=s + 1),
            Softmax(),
        ],
        loss="cross_entropy",
        task="images13",
        opt="momentum",
        bs=8,
    ),
    "cnn-strided-same-ce-sgd-batch": dict(
        layers=lambda s: [
            ConvLayer((6, 6, 2), (2, 2), 3, padding="same", rng=s),
            ReLU(),
            ConvLayer((6, 6, 3), (3, 3), 4, stride=2, padding=1, rng=s + 1),
            Tanh(),
            FlattenLayer(),
            FCLayer(36, 3, rng=s + 2),
            Softmax(),
        ],
        loss="cross_entropy",
        task="images",
        opt="sgd",
        bs=4,
    ),
    "cnn-gemm-strided-padded-ce-adam-batch16": dict(
        layers=lambda s: [
            ConvLayer((12, 12, 3), (3, 3), 8, stride=(2, 1), padding=(1, 2), rng=s),
            ReLU(),
            FlattenLayer(),
            FCLayer(6 * 14 * 8, 3, rng=s + 1),
            Softmax(),
        ],
        loss="cross_entropy",
        task="big-images",
        opt="adam",
        bs=16,
    ),
    # Every layer #13 added, in one CNN: stride, 'same', batch norm (images and features), average
    # pooling, global average pooling.
    "cnn-all-new-layers-ce-adam-batch": dict(
        layers=lambda s: [
            ConvLayer((6, 6, 2), (2, 2), 4, padding="same", rng=s),
            fastnn.BatchNormLayer(4),
            ReLU(),
            fastnn.AvgPoolLayer(2),
            ConvLayer((3, 3, 4), (3, 3), 6, stride=2, padding=1, rng=s + 1),
            fastnn.BatchNormLayer(6, momentum=0.3),
            Tanh(),
            fastnn.GlobalAvgPoolLayer(),
            FCLayer(6, 5, rng=s + 2),
            fastnn.BatchNormLayer(5),
            ReLU(),
            FCLayer(5, 3, rng=s + 3),
            Softmax(),
        ],
        loss="cross_entropy",
        task="images",
        opt="adam",
        bs=5,  # 37 samples: the last batch holds 2 (batch norm over features needs 2)
        shuffle=True,
    ),
    # Dropout draws from the network's generator in the engine as the layer does, shuffling included.
    "cnn-dropout-shuffle-ce-adam-batch": dict(
        layers=lambda s: [
            ConvLayer((6, 6, 2), (3, 3), 4, rng=s),
            ReLU(),
            fastnn.DropoutLayer(0.25),
            FlattenLayer(),
            FCLayer(64, 8, rng=s + 1),
            ReLU(),
            fastnn.DropoutLayer(0.5),
            FCLayer(8, 3, rng=s + 2),
            Softmax(),
        ],
        loss="cross_entropy",
        task="images",
        opt="adam",
        bs=8,
        shuffle=True,
    ),
    # Every rule of plan.shared_slots: an activation over the input's slot, over a convolution's, dropout
    # over a pool's, a flatten and a linear activation sharing theirs, and the activations that may not
    # (they would overwrite values a shared slot still holds for an earlier layer's backward pass).
    "slots-shared-ce-momentum-batch": dict(
        layers=lambda s: _shared_slots_layers(s),
        loss="cross_entropy",
        task="images",
        opt="momentum",
        bs=8,
        shuffle=True,
    ),
    "mlp-dropout-mse-sgd-per-sample": dict(
        layers=lambda s: [FCLayer(2, 7, rng=s), Tanh(), fastnn.DropoutLayer(0.3), FCLayer(7, 1, rng=s + 1)],
        loss="mse",
        task="binary",
        opt="sgd",
        bs=1,
    ),
    # One sample at a time with plain SGD the engine updates dense weights where their gradient is
    # formed, skipping zero inputs: sparse inputs, ReLU zeros, BLAS-size, loop-size and tiny layers.
    "mlp-sparse-relu-ce-sgd-per-sample": dict(
        layers=lambda s: [
            FCLayer(120, 48, rng=s),
            ReLU(),
            FCLayer(48, 20, rng=s + 1),
            ReLU(),
            FCLayer(20, 3, rng=s + 2),
            Softmax(),
        ],
        loss="cross_entropy",
        task="sparse",
        opt="sgd",
        bs=1,
    ),
    "cnn-global-avgpool-ce-adam-batch": dict(
        layers=lambda s: [
            ConvLayer((6, 6, 2), (3, 3), 5, rng=s),
            ReLU(),
            fastnn.GlobalAvgPoolLayer(),
            FCLayer(5, 3, rng=s + 1),
            Softmax(),
        ],
        loss="cross_entropy",
        task="images",
        opt="adam",
        bs=6,
    ),
}


def _shared_slots_layers(s):
    return [
        ReLU(),  # shares the input's slot
        ConvLayer((6, 6, 2), (3, 3), 4, rng=s),
        ReLU(),  # shares: a convolution does not read its output
        MaxPoolLayer(2),
        fastnn.DropoutLayer(0.3),  # shares: nor does a pool
        FlattenLayer(),  # shares: a copy
        LeakyReLU(0.1),  # not: flatten shares its slot (the rule looks one layer back only)
        FCLayer(16, 5, rng=s + 1),
        fastnn.ActivationLayer("linear"),  # shares: a copy
        ReLU(),  # not: the linear activation shares the dense layer's slot
        FCLayer(5, 3, rng=s + 2),
        Tanh(),  # not: its loops are not written to run in place
        fastnn.DropoutLayer(0.2),  # not: tanh's backward reads its output
        Softmax(),
    ]


def test_shared_slots_follow_their_rules():
    from fastnn.plan import make_plan

    plan = make_plan(Network(_shared_slots_layers(0)).layers, (6, 6, 2))
    assert plan.shared == [True, False, True, False, True, True, False, False, True, False, False, False, False, False]


def _data(task, dtype, n=37):
    rng = np.random.default_rng(11)
    if task == "images-onehot":
        x, labels = _data("images", dtype, n)
        return x, np.eye(3, dtype=dtype)[labels]
    shapes = {
        "images": (6, 6, 2),
        "big-images": (12, 12, 3),
        "images13": (13, 13, 2),
        "big-gray": (16, 16, 1),
        "wide": (6, 6, 32),
    }
    if task in shapes:
        shape = (n, *shapes[task])
        x = rng.standard_normal(shape)
        return x.astype(dtype), rng.integers(0, 3, n)
    if task == "sparse":  # mostly zeros, like an image's background
        x = np.maximum(rng.standard_normal((n, 120)) - 0.8, 0.0)
        return x.astype(dtype), rng.integers(0, 3, n)
    x = rng.standard_normal((n, 2)).astype(dtype)
    if task == "binary":
        return x, (x[:, :1] * x[:, 1:] > 0).astype(dtype)
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    return x, (labels if task == "labels" else np.eye(3, dtype=dtype)[labels])


def _train(case, dtype, compiled, monkeypatch, epochs=6):
    monkeypatch.setattr(training_module, "COMPILED_FIT", compiled)
    monkeypatch.setattr(numpy_path, "SMALL_WORK_SECONDS", 0.0)  # these cases compare the engine
    x, y = _data(case["task"], dtype)
    net = Network(case["layers"](3), seed=5, dtype=dtype)
    net.use(case["loss"])
    lr = {"sgd": 0.05, "momentum": 0.02, "adam": 0.01, "rmsprop": 0.01}[case["opt"]]
    history = net.fit(
        x,
        y,
        epochs=epochs,
        learning_rate=lr,
        batch_size=case["bs"],
        optimizer=case["opt"],
        shuffle=case.get("shuffle", False),
        verbose=False,
    )
    assert net.last_fit_path == ("compiled" if compiled else "layers")
    return net, history


def test_the_image_cases_reach_every_convolution_algorithm():
    """The cases above run each algorithm kernels.conv chooses, at their batch sizes and at the
    last, partial batch of 37 samples."""
    from kernels import conv as KC

    seen = set()
    for case in CASES.values():
        for layer in case["layers"](0):
            if isinstance(layer, ConvLayer):
                shape = (layer.input_shape, layer.kernel_shape, layer.layer_depth, layer.stride, layer.padding)
                for n in (case["bs"], 37 % case["bs"] or case["bs"]):
                    seen.add(KC.algorithm.py_func(n, shape))
    assert seen == {KC.DIRECT, KC.IM2COL, KC.PLANAR, KC.WINOGRAD}


@pytest.mark.parametrize("name", CASES)
def test_compiled_fit_equals_layer_path(name, dtype, monkeypatch):
    case = CASES[name]
    a, ha = _train(case, dtype, True, monkeypatch)
    b, hb = _train(case, dtype, False, monkeypatch)
    assert ha == hb  # losses and accuracies, exactly
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert pa.dtype == dtype
        np.testing.assert_array_equal(pa, pb)
    for la, lb in zip(a.layers, b.layers, strict=True):  # buffers too: batch norm's running statistics
        for name in la.buffer_names:
            np.testing.assert_array_equal(getattr(la, name), getattr(lb, name))
        for name in la.param_names:  # and the last step's gradients, which the layers show
            np.testing.assert_array_equal(la.grads[name], lb.grads[name])


def test_compiled_fit_continues_like_the_layer_path(monkeypatch):
    """Two fits in a row (optimizer state carried over) match one path throughout."""
    case = CASES["relu-ce-adam-shuffle"]
    x, y = _data("labels", np.float64)
    monkeypatch.setattr(numpy_path, "SMALL_WORK_SECONDS", 0.0)  # the engine, not the numpy path
    nets = []
    for compiled in (True, False):
        monkeypatch.setattr(training_module, "COMPILED_FIT", compiled)
        net = Network(case["layers"](3), seed=5)
        net.use("cross_entropy")
        opt = fastnn.Adam(0.01)
        net.fit(x, y, epochs=3, batch_size=4, optimizer=opt, shuffle=True, verbose=False)
        net.fit(x, y, epochs=3, batch_size=4, optimizer=opt, shuffle=True, verbose=False)
        assert net.last_fit_path == ("compiled" if compiled else "layers")
        nets.append(net)
    for pa, pb in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        np.testing.assert_array_equal(pa, pb)


def test_user_layers_and_user_losses_fall_back_to_the_layer_path(monkeypatch):
    x, y = _data("binary", np.float64)
    net = Network(_mlp(Tanh, 2, 1, Tanh, 0))
    net.use(fastnn.losses.mse, lambda t, p: fastnn.losses.mse_prime(t, p))
    net.fit(x, y, epochs=1, verbose=False)
    assert not net.last_fit_compiled
    net = Network([fastnn.ActivationLayer(np.sin, np.cos), FCLayer(2, 1)])
    net.use("mse")
    net.fit(x, y, epochs=1, verbose=False)
    assert not net.last_fit_compiled


def test_compiled_nan_stops_with_epoch_and_batch(force_path):
    force_path("compiled")
    x, y = _data("binary", np.float64)
    x[20, 0] = np.nan
    net = Network(_mlp(Tanh, 2, 1, Tanh, 0))
    net.use("mse")
    before = [p.copy() for p in net.parameters()]
    with pytest.raises(FloatingPointError, match="epoch 1, batch 21"):
        net.fit(x, y, epochs=3, verbose=False)
    assert net.last_fit_path == "compiled"
    assert all(np.isfinite(p).all() for p in net.parameters())
    assert any(not np.array_equal(p, q) for p, q in zip(net.parameters(), before, strict=True))


def _fit_until_fault(compiled, x, y, layers, dtype, monkeypatch):
    monkeypatch.setattr(training_module, "COMPILED_FIT", compiled)
    monkeypatch.setattr(numpy_path, "SMALL_WORK_SECONDS", 0.0)
    net = Network(layers(), dtype=dtype).use("mse")
    with pytest.raises(FloatingPointError) as err:
        net.fit(x, y, epochs=2, learning_rate=0.01, optimizer="sgd", verbose=False)
    assert net.last_fit_path == ("compiled" if compiled else "layers")
    return net, str(err.value)


def _one_weight(value):
    layer = FCLayer(1, 1)
    layer.weights[...], layer.bias[...] = value, 0.0
    return [layer]


# Per-sample SGD never forms the dense weight gradients; a non-finite one must still stop training
# before its update, as on the layer path: an inf input behind a saturated tanh (finite loss,
# inf * 0 gradient), and a float32 product that overflows from finite factors (1e30 * 2e10).
FAULTS = {
    "inf-input": (np.float64, lambda: _mlp(Tanh, 2, 1, Tanh, 0), (20, np.inf)),
    "overflow": (np.float32, lambda: _one_weight(1e-20), (0, 1e30)),  # first: later weights grow
}


@pytest.mark.parametrize("name", FAULTS)
def test_per_sample_sgd_stops_on_a_non_finite_weight_gradient_like_the_layer_path(name, monkeypatch):
    dtype, layers, (sample, value) = FAULTS[name]
    x, y = _data("binary", dtype)
    x = x[:, : layers()[0].weights.shape[0]].copy()
    x[sample, 0] = value
    a, error_a = _fit_until_fault(True, x, y, layers, dtype, monkeypatch)
    b, error_b = _fit_until_fault(False, x, y, layers, dtype, monkeypatch)
    assert error_a == error_b and f"epoch 1, batch {sample + 1}" in error_a and "gradient" in error_a
    for la, lb in zip(a.layers, b.layers, strict=True):
        for name in la.param_names:
            np.testing.assert_array_equal(getattr(la, name), getattr(lb, name))
            np.testing.assert_array_equal(la.grads[name], lb.grads[name])


def test_an_inf_weight_facing_a_zero_input_stops_training_as_on_the_layer_path(monkeypatch):
    """0 * inf is NaN: a per-sample engine that skipped zero inputs (the weight update does, safely)
    in its forward pass would train on where the layer path stops."""
    x = np.random.default_rng(2).standard_normal((37, 30))
    x[:, 3] = 0.0
    y = (x[:, :1] > 0).astype(float)
    messages = []
    for compiled in (True, False):
        monkeypatch.setattr(training_module, "COMPILED_FIT", compiled)
        monkeypatch.setattr(numpy_path, "SMALL_WORK_SECONDS", 0.0)
        net = Network([FCLayer(30, 20, rng=0), Tanh(), FCLayer(20, 1, rng=1)]).use("mse")
        net.layers[0].weights[3, 0] = np.inf
        with pytest.raises(FloatingPointError) as err:
            net.fit(x, y, epochs=1, learning_rate=0.01, optimizer="sgd", verbose=False)
        assert net.last_fit_path == ("compiled" if compiled else "layers")
        messages.append(str(err.value))
    assert messages[0] == messages[1] and "epoch 1, batch 1" in messages[0] and "loss" in messages[0]


def test_per_sample_sgd_keeps_negative_zero_weights_as_the_layer_path(dtype, monkeypatch):
    """The one-pass update skips zero inputs, which would keep a -0.0 weight the layer path turns
    into +0.0; a network holding one trains the usual way."""
    case = CASES["mlp-sparse-relu-ce-sgd-per-sample"]
    x, y = _data("sparse", dtype)
    x[:, 5] = 0.0  # row 5 of the first layer's weights only ever subtracts zeros
    nets = []
    for compiled in (True, False):
        monkeypatch.setattr(training_module, "COMPILED_FIT", compiled)
        monkeypatch.setattr(numpy_path, "SMALL_WORK_SECONDS", 0.0)
        net = Network(case["layers"](3), seed=5, dtype=dtype).use("cross_entropy")
        net.layers[0].weights[:, 0] = -0.0
        net.layers[0].bias[0, 0] = -1.0  # unit 0 stays off: its zero gradients meet the -0.0 weights
        net.fit(x, y, epochs=2, learning_rate=0.05, optimizer="sgd", verbose=False)
        assert net.last_fit_path == ("compiled" if compiled else "layers")
        nets.append(net)
    w_a, w_b = nets[0].layers[0].weights, nets[1].layers[0].weights
    assert np.signbit(w_b[5, 0])  # a zero gradient is +0.0 (sums start at 0.0): -0.0 - (+0.0) = -0.0
    np.testing.assert_array_equal(np.signbit(w_a), np.signbit(w_b))
    np.testing.assert_array_equal(w_a, w_b)


def _inference_net(dtype):
    """Every op kind with an inference mode: convolutions on both paths (im2col with padding and the
    direct loops), batch norm (running statistics), dropout (the identity), pooling."""
    layers = [
        ConvLayer((12, 12, 3), (3, 3), 8, padding="same", rng=0),
        fastnn.BatchNormLayer(8),
        ReLU(),
        fastnn.DropoutLayer(0.3),
        ConvLayer((12, 12, 8), (2, 2), 3, stride=2, rng=1),
        Tanh(),
        MaxPoolLayer(2),
        FlattenLayer(),
        FCLayer(27, 4, rng=2),
        Softmax(),
    ]
    return Network(layers, seed=3, dtype=dtype).use("cross_entropy")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_runs_the_compiled_inference_loop_and_equals_the_layer_path(dtype, monkeypatch):
    monkeypatch.setattr(numpy_path, "SMALL_WORK_SECONDS", 0.0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((70, 12, 12, 3)).astype(dtype)
    net = _inference_net(dtype)
    net.fit(x, np.arange(70) % 4, epochs=2, batch_size=16, verbose=False)  # running statistics move
    calls = []
    monkeypatch.setattr(fastnn.engine, "predict_batches", _counting(fastnn.engine.predict_batches, calls))
    out = net.predict(x, batch_size=30)
    assert calls and out.dtype == dtype
    # the loop takes batch_size samples at a time (at most compiled.PREDICT_CHUNK): as the layers do
    expected = np.concatenate([net.forward(x[i : i + 30]) for i in range(0, 70, 30)])
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_predict_on_several_threads_gives_the_serial_numbers(threads, monkeypatch):
    """Each thread predicts a run of the serial loop's own batches (BLAS at one thread): bit for bit
    the layers' outputs on those batches, whatever the thread count."""
    monkeypatch.setattr(numpy_path, "SMALL_WORK_SECONDS", 0.0)
    monkeypatch.setattr(fastnn.compiled, "_threads", lambda: threads)
    x = np.random.default_rng(1).standard_normal((203, 12, 12, 3)).astype(np.float32)
    net = _inference_net(np.float32)
    net.fit(x[:40], np.arange(40) % 4, epochs=1, batch_size=20, verbose=False)
    calls = []
    monkeypatch.setattr(fastnn.engine, "predict_batches", _counting(fastnn.engine.predict_batches, calls))
    out = net.predict(x, batch_size=30)
    assert len(calls) == threads  # one compiled call per thread, each over its run of batches
    expected = np.concatenate([net.forward(x[i : i + 30]) for i in range(0, 203, 30)])
    np.testing.assert_array_equal(out, expected)


def _counting(func, calls):
    def wrapped(*args):
        calls.append(1)
        return func(*args)

    return wrapped
