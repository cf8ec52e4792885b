"""TensorBoard logs for every run: Keras's own TensorBoard callback writing RUN/tensorboard/ (per epoch,
no graph, no profiling), so `tensorboard --logdir SWEEP/trials` shows all of a sweep's trials side by
side. Skipped (no callback) when the `tensorboard` package, which tf.summary needs, is not installed, or
when CNNSPEC_TENSORBOARD=0."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from cnnspec.runs.rundir import TENSORBOARD_DIR as LOG_DIR  # the run directory contract


def tensorboard_callbacks(run_dir) -> list:
    """``[keras.callbacks.TensorBoard(RUN/tensorboard)]``, or ``[]`` when TensorBoard is unavailable/off."""
    if os.environ.get("CNNSPEC_TENSORBOARD", "1") == "0" or importlib.util.find_spec("tensorboard") is None:
        return []
    import keras

    return [keras.callbacks.TensorBoard(log_dir=str(Path(str(run_dir)) / LOG_DIR), write_graph=False,
                                        update_freq="epoch", profile_batch=0)]
