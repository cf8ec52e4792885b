"""The Keras side: build a spec as a Keras 3 model, train/evaluate it, export it to ONNX.
The only subpackage that imports TensorFlow (always lazily, inside functions)."""
