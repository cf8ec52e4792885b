"""Keras's own dataset downloaders (need TensorFlow and the internet): a last resort for ``mnist``."""
from __future__ import annotations


def download_mnist():
    """``((x_train, y_train), (x_test, y_test))`` from ``keras.datasets.mnist.load_data()``."""
    from keras.datasets import mnist

    return mnist.load_data()
