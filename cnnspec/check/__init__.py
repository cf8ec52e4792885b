"""Check a spec against Keras's shape and count rules and render summary tables (rich, markdown, LaTeX, JSON).
Pure Python: never imports TensorFlow."""
