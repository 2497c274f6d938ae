"""What Keras and PyTorch users expect of fit: named optimizers at their usual step sizes,
learning_rate= on optimizers, callbacks that stop training (EarlyStopping), validation_split."""

import numpy as np
import pytest

import fastnn
from fastnn import FCLayer, Network, Softmax, Tanh
from fastnn.callbacks import Callback, EarlyStopping, StopTraining


def _data(n=90, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    return rng.standard_normal((3, 4))[labels] * 3 + rng.standard_normal((n, 4)), labels


def _net():
    return Network([FCLayer(4, 8, rng=0), Tanh(), FCLayer(8, 3, rng=1), Softmax()], seed=0).use("cross_entropy")


@pytest.mark.parametrize("name,rate", [("sgd", 0.01), ("momentum", 0.01), ("rmsprop", 0.001), ("adam", 0.001)])
def test_a_named_optimizer_uses_its_usual_step_size_unless_learning_rate_is_given(name, rate):
    x, y = _data()
    net = _net()
    net.fit(x, y, epochs=1, optimizer=name, verbose=False)
    assert net.optimizer.lr == rate
    net.fit(x, y, epochs=1, optimizer=name, learning_rate=0.05, verbose=False)
    assert net.optimizer.lr == 0.05
    net.fit(x, y, epochs=1, verbose=False)  # no optimizer: the seed's plain SGD at 0.1
    assert isinstance(net.optimizer, fastnn.SGD) and net.optimizer.lr == 0.1


def test_optimizers_take_keras_learning_rate_and_pytorch_lr():
    assert fastnn.Adam(learning_rate=0.02).lr == fastnn.Adam(0.02).lr == fastnn.Adam(lr=0.02).lr == 0.02
    assert fastnn.Adam().lr == 0.001
    with pytest.raises(TypeError, match="not both"):
        fastnn.Adam(0.1, learning_rate=0.2)
    with pytest.raises(ValueError, match="learning_rate"):
        fastnn.SGD(learning_rate=-1)


def test_early_stopping_stops_keeps_the_history_and_restores_the_best_weights():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((90, 4)), rng.integers(0, 3, 90)  # labels without signal: validation loss rises
    net = Network([FCLayer(4, 16, rng=0), Tanh(), FCLayer(16, 3, rng=1), Softmax()], seed=0).use("cross_entropy")
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = net.fit(
        x,
        y,
        epochs=200,
        batch_size=10,
        optimizer="adam",
        learning_rate=0.05,
        verbose=False,
        validation_split=0.3,
        callbacks=[stop],
    )
    assert stop.stopped_epoch is not None and stop.stopped_epoch < 199
    assert len(history["loss"]) == len(history["val_loss"]) == stop.stopped_epoch + 1
    best = int(np.argmin(history["val_loss"]))
    assert stop.best_epoch == best and stop.stopped_epoch == best + 2  # patience 2: two epochs without improvement
    keep = int(90 * (1 - 0.3))  # 62, as Keras splits: int(n * (1 - validation_split))
    restored = net.evaluate(x[keep:], y[keep:])["loss"]
    assert restored == pytest.approx(history["val_loss"][best], rel=1e-12)
    assert restored < history["val_loss"][-1]


def test_early_stopping_patience_and_min_delta_as_in_keras():
    stop = EarlyStopping(monitor="loss", patience=1, min_delta=0.1)
    stop.network = _net()
    stop.on_train_begin()
    for epoch, value in enumerate([1.0, 0.95, 0.5, 0.45]):  # 0.95 and 0.45: not better by more than 0.1
        stop.on_epoch_end(epoch, {"loss": value})
        if stop.network.stop_training:
            break
    assert stop.stopped_epoch == 1 and stop.best_epoch == 0
    accuracy = EarlyStopping(monitor="val_accuracy")  # "auto": higher is better for accuracies
    accuracy.network = _net()
    accuracy.on_epoch_end(0, {"val_accuracy": 0.5})
    accuracy.on_epoch_end(1, {"val_accuracy": 0.6})
    assert accuracy.best_epoch == 1 and accuracy.stopped_epoch is None
    with pytest.raises(ValueError, match=r"val_loss.*not in the logs"):
        EarlyStopping().on_epoch_end(0, {"loss": 1.0})


@pytest.mark.parametrize("how", ["raise", "flag"])
def test_a_callback_can_end_training_and_the_history_is_kept(how):
    x, y = _data()
    seen = []

    def stop_at_three(epoch, logs):
        seen.append(epoch)
        if epoch == 2:
            raise StopTraining

    class Flag(Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append(epoch)
            if epoch == 2:
                self.network.stop_training = True

    net = _net()
    kwargs = {"callback": stop_at_three} if how == "raise" else {"callbacks": [Flag()]}
    history = net.fit(x, y, epochs=50, batch_size=10, optimizer="adam", verbose=False, **kwargs)
    assert seen == [0, 1, 2] and len(history["loss"]) == 3 and net.history is history
    again = net.fit(x, y, epochs=2, batch_size=10, optimizer="adam", verbose=False)  # the flag does not stick
    assert len(again["loss"]) == 2


def test_validation_split_holds_out_the_last_fraction_before_shuffling():
    x, y = _data(n=50)
    a, b = _net(), _net()
    ha = a.fit(x, y, epochs=3, batch_size=5, shuffle=True, seed=1, validation_split=0.2, verbose=False)
    hb = b.fit(
        x[:40], y[:40], epochs=3, batch_size=5, shuffle=True, seed=1, validation_data=(x[40:], y[40:]), verbose=False
    )
    assert ha == hb
    with pytest.raises(ValueError, match="not both"):
        _net().fit(x, y, epochs=1, validation_split=0.2, validation_data=(x, y))
    for bad in (1.0, -0.1, 0.99):
        with pytest.raises(ValueError, match="validation_split"):
            _net().fit(x, y, epochs=1, validation_split=bad)
