"""Seed 000's ConvLayer in a small per-sample network (Conv -> tanh -> Flatten -> FC -> tanh) on
random 6x6x2 images, written exactly as the seed's classes are used; only the imports are fastnn's."""

import numpy as np

from fastnn import ActivationLayer, ConvLayer, FCLayer, FlattenLayer, Network
from fastnn.activations import tanh, tanh_prime
from fastnn.losses import mse, mse_prime


def main(epochs=20, samples=16):
    np.random.seed(0)
    x_train = np.random.rand(samples, 6, 6, 2)
    y_train = np.random.rand(samples, 1, 3) - 0.5

    net = Network()
    net.add(ConvLayer((6, 6, 2), (3, 3), 4))
    net.add(ActivationLayer((4, 4, 4), tanh, tanh_prime))
    net.add(FlattenLayer())
    net.add(FCLayer((1, 64), (1, 3)))
    net.add(ActivationLayer((1, 3), tanh, tanh_prime))

    net.use(mse, mse_prime)
    net.fit(x_train, y_train, epochs=epochs, learning_rate=0.1)
    return net


if __name__ == "__main__":
    main()
