#' cnnspec: Keras summary tables as the source of CNNs, from R
#'
#' A paper's Keras summary table, written once as a YAML spec, is checked, built, trained,
#' exported and served by the 'cnnspec' Python tool; this package drives it from R through
#' 'reticulate', in keras3's idiom.
#'
#' * [cnnspec_check()]: the table computed without TensorFlow, compared with the printed one.
#' * [cnnspec_model()]: the Keras model, compiled from the spec's `train:` section; `print()`,
#'   [fit()], [evaluate()], [predict()][predict.cnnspec_model] on R arrays, labels as R holds them
#'   ([cnnspec_labels]); [plot()][plot.cnnspec_history] the history.
#' * [cnnspec_train()]: a recorded run (on a dataset or R arrays), read back as a [cnnspec_run].
#' * [cnnspec_export()], [cnnspec_load()], [cnnspec_predict()]: ONNX export with parity, models
#'   back into R, prediction without TensorFlow.
#' * [cnnspec_code()], [cnnspec_import()]: a spec as keras3 or Python code, and back.
#'
#' Set-up: the package needs a Python environment with the 'cnnspec' Python package (and NumPy
#' below 2 with reticulate 1.28). Point `CNNSPEC_PYTHON` at its Python before the package first
#' talks to Python in an R session; `scripts/setup.sh` in the cnnspec repository creates one
#' (`.venv`). See [cnnspec_python()]. The spec files used in the examples ship in
#' `system.file("specs", package = "cnnspec")`.
#'
#' @keywords internal
"_PACKAGE"
