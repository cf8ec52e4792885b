"""Deployment without TensorFlow: the ONNX runtime wrapper, the HTTP server and the benchmark timer."""
