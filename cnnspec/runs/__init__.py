"""The run directory and model-metadata contract: atomic writes, run.json/history/metrics files,
sidecars and embedded metadata, metrics and plots. Never imports TensorFlow."""
