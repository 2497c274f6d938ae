"""Seed 003 (Piotr Skalski): the network as a list of dicts, relu/sigmoid, binary cross-entropy,
full-batch gradient descent at lr 0.01 for 10,000 epochs on make_moons (1000 samples, noise 0.2,
random_state=100, 10% test). The seed reports 0.98 test accuracy."""

from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from fastnn import Network

NN_ARCHITECTURE = [
    {"input_dim": 2, "output_dim": 25, "activation": "relu"},
    {"input_dim": 25, "output_dim": 50, "activation": "relu"},
    {"input_dim": 50, "output_dim": 50, "activation": "relu"},
    {"input_dim": 50, "output_dim": 25, "activation": "relu"},
    {"input_dim": 25, "output_dim": 1, "activation": "sigmoid"},
]
N_SAMPLES = 1000
TEST_SIZE = 0.1


def main(epochs=10000, learning_rate=0.01):
    X, y = make_moons(n_samples=N_SAMPLES, noise=0.2, random_state=100)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_SIZE, random_state=42)

    net = Network.from_architecture(NN_ARCHITECTURE, seed=2)  # the seed's train() calls init_layers(..., 2)
    net.use("binary_cross_entropy")
    history = net.fit(
        X_train,
        y_train.reshape(-1, 1),
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=len(X_train),
        verbose=False,
    )
    acc_test = net.evaluate(X_test, y_test.reshape(-1, 1))["accuracy"]
    print("Test set accuracy: {:.2f}".format(acc_test))
    return net, history, acc_test


if __name__ == "__main__":
    main()
