"""Seed 001's XOR: 2-4-1, tanh hidden layer, sigmoid output, binary cross-entropy, full-batch
gradient descent at lr 0.1 for 10,000 iterations, Gaussian initialisation, zero biases.

The seed writes the update by hand with ``delta2 = output - y`` (the gradient of the *summed*
cross-entropy through the sigmoid); fastnn's losses are means, so the same step size is
``learning_rate * 4`` (4 samples) -- printed losses are the same mean the seed prints."""

import numpy as np

from fastnn import FCLayer, Network, Sigmoid, Tanh
from fastnn.losses import binary_cross_entropy, binary_cross_entropy_prime


def main(iterations=10000, seed=1):
    rng = np.random.default_rng(seed)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0, 1, 1, 0]], dtype=float).T

    def gaussian(shape):
        return rng.standard_normal(shape) if shape[0] > 1 else np.zeros(shape)

    # Full-batch, as the seed trains: the layers go to the constructor, so predict returns one array.
    net = Network([FCLayer(2, 4, initializer=gaussian), Tanh(), FCLayer(4, 1, initializer=gaussian), Sigmoid()])
    net.use(binary_cross_entropy, binary_cross_entropy_prime)

    history = net.fit(X, y, epochs=iterations, learning_rate=0.1 * len(X), batch_size=len(X), verbose=False)
    for i in range(0, iterations, 1000):
        print("Iteration:", i, "Loss:", history["loss"][i])
    print("predictions:", net.predict(X).ravel().round(4))
    return net, history


if __name__ == "__main__":
    main()
