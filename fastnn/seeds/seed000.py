"""Seed 000 (Omar Aflak, "math neural network from scratch in Python"): its classes as published.

``ConvLayer`` keeps both of the seed's bias bugs; ``FixedConvLayer`` is the same code with the two
lines fastnn changes (bias added once per output channel; no ``layer_depth *`` on its gradient).
"""

from abc import abstractmethod

import numpy as np
from scipy import signal


class Layer:
    def __init__(self):
        self.input = None
        self.output = None
        self.input_shape = None
        self.output_shape = None

    @abstractmethod
    def forward_propagation(self, input):
        raise NotImplementedError

    @abstractmethod
    def backward_propagation(self, output_error, learning_rate):
        raise NotImplementedError


class FCLayer(Layer):
    def __init__(self, input_shape, output_shape):
        self.input_shape = input_shape
        self.output_shape = output_shape
        self.weights = np.random.rand(input_shape[1], output_shape[1]) - 0.5
        self.bias = np.random.rand(1, output_shape[1]) - 0.5

    def forward_propagation(self, input):
        self.input = input
        self.output = np.dot(self.input, self.weights) + self.bias
        return self.output

    def backward_propagation(self, output_error, learning_rate):
        input_error = np.dot(output_error, self.weights.T)
        dWeights = np.dot(self.input.T, output_error)
        self.weights -= learning_rate * dWeights
        self.bias -= learning_rate * output_error
        return input_error


class ActivationLayer(Layer):
    def __init__(self, input_shape, activation, activation_prime):
        self.input_shape = input_shape
        self.output_shape = input_shape
        self.activation = activation
        self.activation_prime = activation_prime

    def forward_propagation(self, input):
        self.input = input
        self.output = self.activation(self.input)
        return self.output

    def backward_propagation(self, output_error, learning_rate):
        return self.activation_prime(self.input) * output_error


def tanh(x):
    return np.tanh(x)


def tanh_prime(x):
    return 1 - np.tanh(x) ** 2


def mse(y_true, y_pred):
    return np.mean(np.power(y_true - y_pred, 2))


def mse_prime(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.size


class Network:
    def __init__(self):
        self.layers = []
        self.loss = None
        self.loss_prime = None

    def add(self, layer):
        self.layers.append(layer)

    def use(self, loss, loss_prime):
        self.loss = loss
        self.loss_prime = loss_prime

    def predict(self, input):
        samples = len(input)
        result = []
        for i in range(samples):
            output = input[i]
            for layer in self.layers:
                output = layer.forward_propagation(output)
            result.append(output)
        return result

    def fit(self, x_train, y_train, epochs, learning_rate):
        samples = len(x_train)
        for i in range(epochs):
            err = 0
            for j in range(samples):
                output = x_train[j]
                for layer in self.layers:
                    output = layer.forward_propagation(output)
                err += self.loss(y_train[j], output)
                error = self.loss_prime(y_train[j], output)
                for layer in reversed(self.layers):
                    error = layer.backward_propagation(error, learning_rate)
            err /= samples
            print("epoch %d/%d   error=%f" % (i + 1, epochs, err))


class ConvLayer(Layer):
    def __init__(self, input_shape, kernel_shape, layer_depth):
        self.input_shape = input_shape
        self.input_depth = input_shape[2]
        self.kernel_shape = kernel_shape
        self.layer_depth = layer_depth
        self.output_shape = (input_shape[0] - kernel_shape[0] + 1, input_shape[1] - kernel_shape[1] + 1, layer_depth)
        self.weights = np.random.rand(kernel_shape[0], kernel_shape[1], self.input_depth, layer_depth) - 0.5
        self.bias = np.random.rand(layer_depth) - 0.5

    def forward_propagation(self, input):
        self.input = input
        self.output = np.zeros(self.output_shape)
        for k in range(self.layer_depth):
            for d in range(self.input_depth):
                self.output[:, :, k] += (
                    signal.correlate2d(self.input[:, :, d], self.weights[:, :, d, k], "valid") + self.bias[k]
                )
        return self.output

    def backward_propagation(self, output_error, learning_rate):
        in_error = np.zeros(self.input_shape)
        dWeights = np.zeros((self.kernel_shape[0], self.kernel_shape[1], self.input_depth, self.layer_depth))
        dBias = np.zeros(self.layer_depth)
        for k in range(self.layer_depth):
            for d in range(self.input_depth):
                in_error[:, :, d] += signal.convolve2d(output_error[:, :, k], self.weights[:, :, d, k], "full")
                dWeights[:, :, d, k] = signal.correlate2d(self.input[:, :, d], output_error[:, :, k], "valid")
            dBias[k] = self.layer_depth * np.sum(output_error[:, :, k])
        self.weights -= learning_rate * dWeights
        self.bias -= learning_rate * dBias
        return in_error


class FixedConvLayer(ConvLayer):
    """The seed's ConvLayer with its two bias bugs fixed, as fastnn's ConvLayer documents."""

    def forward_propagation(self, input):
        self.input = input
        self.output = np.zeros(self.output_shape)
        for k in range(self.layer_depth):
            for d in range(self.input_depth):
                self.output[:, :, k] += signal.correlate2d(self.input[:, :, d], self.weights[:, :, d, k], "valid")
            self.output[:, :, k] += self.bias[k]  # fixed: once per output channel
        return self.output

    def backward_propagation(self, output_error, learning_rate):
        in_error = np.zeros(self.input_shape)
        dWeights = np.zeros((self.kernel_shape[0], self.kernel_shape[1], self.input_depth, self.layer_depth))
        dBias = np.zeros(self.layer_depth)
        for k in range(self.layer_depth):
            for d in range(self.input_depth):
                in_error[:, :, d] += signal.convolve2d(output_error[:, :, k], self.weights[:, :, d, k], "full")
                dWeights[:, :, d, k] = signal.correlate2d(self.input[:, :, d], output_error[:, :, k], "valid")
            dBias[k] = np.sum(output_error[:, :, k])  # fixed: no layer_depth factor
        self.weights -= learning_rate * dWeights
        self.bias -= learning_rate * dBias
        return in_error


class FlattenLayer(Layer):
    """The seed author's later FlattenLayer (per sample: (h, w, d) -> (1, h*w*d))."""

    def forward_propagation(self, input):
        self.input = input
        return np.reshape(input, (1, -1))

    def backward_propagation(self, output_error, learning_rate):
        return np.reshape(output_error, self.input.shape)


# The second published version of seed 000's API: the same layers with shorter constructors,
# ``FCLayer(input_size, output_size)`` and ``ActivationLayer(activation, activation_prime)``.
# The weights are drawn exactly as by the first version's constructors.


class FCLayerV2(FCLayer):
    def __init__(self, input_size, output_size):
        super().__init__((1, input_size), (1, output_size))


class ActivationLayerV2(ActivationLayer):
    def __init__(self, activation, activation_prime):
        super().__init__(None, activation, activation_prime)
