"""Dataset sources: the embedded Fashion-MNIST sample, Debian's Fashion-MNIST, MNIST, CIFAR-10/100, digits,
npz files and image folders. Never imports TensorFlow."""

from cnnspec.data.dataset import Dataset
from cnnspec.data.formats import read_idx
from cnnspec.data.sources import (FASHION_MNIST_CLASSES, MNIST_CLASSES, REGISTRY, SAMPLE_PATH, Source,
                                  dataset_names, load_dataset, register)
from cnnspec.errors import DataError

__all__ = ["Dataset", "DataError", "FASHION_MNIST_CLASSES", "MNIST_CLASSES", "REGISTRY", "SAMPLE_PATH", "Source",
           "dataset_names", "load_dataset", "read_idx", "register"]
