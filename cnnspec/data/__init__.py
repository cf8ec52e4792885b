"""Dataset sources: the embedded Fashion-MNIST sample, Debian's Fashion-MNIST, MNIST, CIFAR-10/100, digits,
npz files and image folders. Never imports TensorFlow."""
