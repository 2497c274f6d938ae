# XOR with the second published API (sizes, activation pairs without shapes) and plain Python
# lists of per-sample arrays, as a reader who builds the data by hand writes it.
import numpy as np

# -- imports --
from fastnn import ActivationLayer, FCLayer, Network
from fastnn.activations import tanh, tanh_prime
from fastnn.losses import mse, mse_prime

# -- end imports --

x_train = [np.array([[0, 0]]), np.array([[0, 1]]), np.array([[1, 0]]), np.array([[1, 1]])]
y_train = [np.array([[0]]), np.array([[1]]), np.array([[1]]), np.array([[0]])]

net = Network()
net.add(FCLayer(2, 3))
net.add(ActivationLayer(tanh, tanh_prime))
net.add(FCLayer(input_size=3, output_size=1))
net.add(ActivationLayer(activation=tanh, activation_prime=tanh_prime))

net.use(mse, mse_prime)
net.fit(x_train, y_train, epochs=300, learning_rate=0.1)

print(net.predict(x_train))
