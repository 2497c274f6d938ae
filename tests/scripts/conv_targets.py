# A network of ConvLayers only, trained on one random image towards a random target of the last
# layer's output shape: lists of (10, 10, 1) inputs and (4, 4, 2) targets.
import numpy as np

# -- imports --
from fastnn import ActivationLayer, ConvLayer, Network
from fastnn.activations import tanh, tanh_prime
from fastnn.losses import mse, mse_prime

# -- end imports --

x_train = [np.random.rand(10, 10, 1)]
y_train = [np.random.rand(4, 4, 2)]

net = Network()
net.add(ConvLayer((10, 10, 1), (3, 3), 1))
net.add(ActivationLayer((8, 8, 1), tanh, tanh_prime))
net.add(ConvLayer((8, 8, 1), (3, 3), 1))
net.add(ActivationLayer((6, 6, 1), tanh, tanh_prime))
net.add(ConvLayer((6, 6, 1), (3, 3), 2))
net.add(ActivationLayer((4, 4, 2), tanh, tanh_prime))

net.use(mse, mse_prime)
net.fit(x_train, y_train, epochs=200, learning_rate=0.3)

out = net.predict(x_train)
print("predicted = ", out)
print("expected = ", y_train)
