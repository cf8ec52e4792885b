"""Code generation (spec -> R/Python Keras code), import (code -> spec) and the helpers the R package
calls through reticulate. Never imports TensorFlow at module level."""
