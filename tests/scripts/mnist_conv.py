# The MNIST ConvLayer script's pattern: images (N, 28, 28, 1) as float32, one-hot float32 targets of
# shape (N, 10) against a (1, 10) output per sample, FlattenLayer() without shapes.

import numpy as np

# -- imports --
from fastnn import ActivationLayer, ConvLayer, FCLayer, FlattenLayer, Network
from fastnn.activations import tanh, tanh_prime
from fastnn.losses import mse, mse_prime
# -- end imports --

from keras_standin import mnist, np_utils

(x_train, y_train), (x_test, y_test) = mnist.load_data()

x_train = x_train.reshape(x_train.shape[0], 28, 28, 1)
x_train = x_train.astype("float32")
x_train /= 255
y_train = np_utils.to_categorical(y_train)

x_test = x_test.reshape(x_test.shape[0], 28, 28, 1)
x_test = x_test.astype("float32")
x_test /= 255
y_test = np_utils.to_categorical(y_test)

net = Network()
net.add(ConvLayer((28, 28, 1), (3, 3), 1))
net.add(ActivationLayer(tanh, tanh_prime))
net.add(FlattenLayer())
net.add(FCLayer(26 * 26 * 1, 100))
net.add(ActivationLayer(tanh, tanh_prime))
net.add(FCLayer(100, 10))
net.add(ActivationLayer(tanh, tanh_prime))

net.use(mse, mse_prime)
net.fit(x_train[0:10], y_train[0:10], epochs=2, learning_rate=0.1)

out = net.predict(x_test[0:3])
print("\n")
print("predicted values : ")
print(out, end="\n")
print("true values : ")
print(y_test[0:3])
