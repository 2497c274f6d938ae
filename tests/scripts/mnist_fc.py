# The MNIST fully-connected script's pattern: Keras-style loading, float32 pixels scaled to [0, 1],
# float32 one-hot targets, samples as (N, 1, 784), the second API version, one sample at a time.

import numpy as np

# -- imports --
from fastnn import ActivationLayer, FCLayer, Network
from fastnn.activations import tanh, tanh_prime
from fastnn.losses import mse, mse_prime
# -- end imports --

from keras_standin import mnist, np_utils

(x_train, y_train), (x_test, y_test) = mnist.load_data()

x_train = x_train.reshape(x_train.shape[0], 1, 28 * 28)
x_train = x_train.astype("float32")
x_train /= 255
y_train = np_utils.to_categorical(y_train)

x_test = x_test.reshape(x_test.shape[0], 1, 28 * 28)
x_test = x_test.astype("float32")
x_test /= 255
y_test = np_utils.to_categorical(y_test)

net = Network()
net.add(FCLayer(28 * 28, 100))
net.add(ActivationLayer(tanh, tanh_prime))
net.add(FCLayer(100, 50))
net.add(ActivationLayer(tanh, tanh_prime))
net.add(FCLayer(50, 10))
net.add(ActivationLayer(tanh, tanh_prime))

net.use(mse, mse_prime)
net.fit(x_train[0:50], y_train[0:50], epochs=2, learning_rate=0.1)

out = net.predict(x_test[0:3])
print("\n")
print("predicted values : ")
print(out, end="\n")
print("true values : ")
print(y_test[0:3])
