"""Seed 004 (Victor Zhou): a sigmoid neuron, a 2-2-1 feed-forward network, and the gender example
(weight and height, shifted) trained with MSE and per-sample SGD."""

import numpy as np

from fastnn import FCLayer, Network, Sigmoid


def neuron():
    """w = [0, 1], b = 4, x = [2, 3] -> 0.9990."""
    net = Network([FCLayer(2, 1), Sigmoid()])
    net.layers[0].weights[:] = [[0], [1]]
    net.layers[0].bias[:] = 4
    return float(net.predict(np.array([[2, 3]]))[0, 0])


def feedforward():
    """Every neuron w = [0, 1], b = 0; x = [2, 3] -> 0.7216."""
    net = Network([FCLayer(2, 2), Sigmoid(), FCLayer(2, 1), Sigmoid()])
    net.layers[0].weights[:] = [[0, 0], [1, 1]]
    net.layers[0].bias[:] = 0
    net.layers[2].weights[:] = [[0], [1]]
    net.layers[2].bias[:] = 0
    return float(net.predict(np.array([[2, 3]]))[0, 0])


def gender(epochs=1000, seed=0):
    """Alice, Bob, Charlie, Diana (weight - 135 lb, height - 66 in); 1 = female. Predict Emily and Frank."""
    data = np.array([[-2, -1], [25, 6], [17, 4], [-15, -6]], dtype=float)
    all_y_trues = np.array([[1], [0], [0], [1]], dtype=float)
    rng = np.random.default_rng(seed)
    net = Network(
        [
            FCLayer(2, 2, initializer="normal", rng=rng),
            Sigmoid(),
            FCLayer(2, 1, initializer="normal", rng=rng),
            Sigmoid(),
        ]
    )
    net.use("mse")
    history = net.fit(data, all_y_trues, epochs=epochs, learning_rate=0.1, verbose=False)
    emily, frank = net.predict(np.array([[-7, -3], [20, 2]], dtype=float)).ravel()
    return float(emily), float(frank), history


if __name__ == "__main__":
    print("neuron: %.4f" % neuron())
    print("feedforward: %.4f" % feedforward())
    emily, frank, _ = gender()
    print("Emily: %.3f  Frank: %.3f" % (emily, frank))
