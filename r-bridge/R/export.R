#' Export a trained model to ONNX
#'
#' Writes an `.onnx` file with cnnspec's metadata (class names, input scaling) and checks that it
#' predicts what the Keras model predicts (parity), with the Python export API, the same as
#' `cnnspec export`. The file is served without TensorFlow: [cnnspec_load()] and [predict()] it
#' from R, or `cnnspec predict` / `cnnspec serve` it.
#'
#' @param model_or_run A [cnnspec_run], a run directory or `.keras` file, or a `cnnspec_model`.
#' @param path The `.onnx` file to write.
#' @param x Inputs to check parity on (an R array of raw inputs, as [predict()][predict.cnnspec_model]
#'   takes them). `NULL`: random pixels 0..255, or a dataset's test split with `data = "name"`.
#' @param ... Options of the Python `export_model()` (`opset`, `data`, `limit`).
#' @return `path`, invisibly, with attribute `report` (the export report: parity, size, ...).
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' spec <- system.file("specs", "table3.yaml", package = "cnnspec")
#' model <- cnnspec_model(spec)
#' onnx <- cnnspec_export(model, tempfile(fileext = ".onnx"))
#' attr(onnx, "report")$parity$max_abs_diff
cnnspec_export <- function(model_or_run, path = "model.onnx", x = NULL, ...) {
  require_py("cnnspec.keras.export", "export_model", "cnnspec_export()")
  src <- if (inherits(model_or_run, "cnnspec_run")) {
    model_or_run$run_dir
  } else if (is.character(model_or_run) && length(model_or_run) == 1) {
    model_or_run
  } else if (inherits(model_or_run, "cnnspec_model")) {
    rb_call("save_model", model_or_run, tempfile(fileext = ".keras"))
  } else cnnspec_stop("cnnspec_export() takes a cnnspec_run, a run directory, a .keras file or a cnnspec_model")
  if (!file.exists(src)) cnnspec_stop(src, ": no such model file or run directory")
  args <- list(...)
  if (!is.null(x)) {
    npz <- tempfile(fileext = ".npz")
    on.exit(unlink(npz), add = TRUE)
    rb_call("write_inputs", as_np(x), npz)
    args$data <- paste0("npz:", npz)
  }
  report <- do.call(py_call, c(list("cnnspec.keras.export", "export_model", src, path), args))
  invisible(structure(path, report = report))
}

#' Load a trained model back into R
#'
#' A run directory (from [cnnspec_train()] or `cnnspec train`) or a `.keras` file gives a
#' `cnnspec_model` (Keras) with the run's class names, input scaling and training settings; it
#' prints, predicts, evaluates and can be fitted further. An `.onnx` file (from
#' [cnnspec_export()]) gives a `cnnspec_onnx`, which predicts with ONNX Runtime, without TensorFlow.
#'
#' @param path A run directory, a `.keras` file or an `.onnx` file.
#' @return A `cnnspec_model` or a `cnnspec_onnx`.
#' @seealso [predict.cnnspec_model()], [cnnspec_predict()].
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' spec <- system.file("specs", "table3.yaml", package = "cnnspec")
#' onnx <- cnnspec_export(cnnspec_model(spec), tempfile(fileext = ".onnx"))
#' deployed <- cnnspec_load(onnx)
#' deployed
#' x <- array(runif(3 * 28 * 28), dim = c(3, 28, 28))
#' predict(deployed, x, type = "class")
cnnspec_load <- function(path) {
  if (inherits(path, "cnnspec_run")) path <- path$run_dir
  if (!is.character(path) || length(path) != 1) cnnspec_stop("cnnspec_load() takes one path, got ", class(path)[1])
  if (!file.exists(path)) cnnspec_stop(path, ": no such file or run directory")
  if (grepl("\\.onnx$", path, ignore.case = TRUE)) {
    require_py("onnxruntime", "InferenceSession", "cnnspec_load() of an .onnx file")
    m <- rb_call("load", path)
    class(m) <- unique(c("cnnspec_onnx", class(m)))
    return(m)
  }
  require_py("keras", "Model", "cnnspec_load()")
  as_model(rb_call("load", path))
}

#' @rdname predict.cnnspec_model
#' @export
predict.cnnspec_onnx <- function(object, x, type = c("prob", "class"), batch_size = NULL, ...) {
  type <- match.arg(type)
  probs <- rb_call("predict", object, as_np(x), batch_size = as_int_or_null(batch_size, "batch_size"))
  probs <- matrix(as.numeric(probs), nrow = dim(probs)[1])
  shape_predictions(probs, unlist(rb_call("onnx_info", object)$class_names), type)
}

#' @export
print.cnnspec_onnx <- function(x, ...) {
  info <- rb_call("onnx_info", x)
  cat(sprintf("cnnspec ONNX model: %s%s\n", info$path, if (!is.null(info$spec_name)) paste0(" (", info$spec_name, ")") else ""))
  cat(sprintf("Input: %s; fed as x * %s + %s\n", paste(unlist(info$input_shape), collapse = " x "),
              format(signif(info$scale, 6)), format(info$offset)))
  cat(sprintf("Classes: %s\nDevice: %s\n", paste(unlist(info$class_names), collapse = ", "), info$device))
  invisible(x)
}

#' Predict with an exported or trained model
#'
#' `cnnspec_predict(model, x)` with an R array gives class probabilities, like
#' [predict()][predict.cnnspec_model]; `model` may be a `cnnspec_model`, a `cnnspec_onnx`, or a
#' path that [cnnspec_load()] reads. With image file names (PNG, JPEG, ...) and an `.onnx`
#' model, it gives the top classes per image as a data.frame, like `cnnspec predict`.
#'
#' @param model A `cnnspec_model`, a `cnnspec_onnx`, or a path (`.onnx`, `.keras`, run directory).
#' @param x A numeric array (samples first), or image file names.
#' @param top With image files: how many classes per image.
#' @param type With an array: `"prob"` or `"class"` (see [predict.cnnspec_model()]).
#' @return With an array, a matrix or factor; with image files, a data.frame (`image`, `rank`,
#'   `class`, `probability`).
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' spec <- system.file("specs", "table3.yaml", package = "cnnspec")
#' onnx <- cnnspec_export(cnnspec_model(spec), tempfile(fileext = ".onnx"))
#' x <- array(runif(2 * 28 * 28), dim = c(2, 28, 28, 1))
#' cnnspec_predict(onnx, x)
cnnspec_predict <- function(model, x, top = 5, type = c("prob", "class")) {
  type <- match.arg(type)
  if (is.character(x)) return(predict_files(model, x, top))
  if (is.character(model)) model <- cnnspec_load(model)
  if (!inherits(model, c("cnnspec_model", "cnnspec_onnx")))
    cnnspec_stop("cnnspec_predict() takes a cnnspec_model, a cnnspec_onnx or a model path, got ", class(model)[1])
  stats::predict(model, x, type = type)
}

predict_files <- function(model_path, images, top) {
  if (inherits(model_path, "cnnspec_onnx")) model_path <- rb_call("onnx_info", model_path)$path
  if (!is.character(model_path) || length(model_path) != 1 || !grepl("\\.onnx$", model_path, ignore.case = TRUE))
    cnnspec_stop("prediction on image files takes an .onnx file (export one with cnnspec_export()), got ",
                 deparse(model_path))
  if (!file.exists(model_path)) cnnspec_stop(model_path, ": no such file")
  missing <- images[!file.exists(images)]
  if (length(missing)) cnnspec_stop(missing[1], ": no such image file")
  require_py("cnnspec.deploy.runtime", "OnnxModel", "cnnspec_predict()")
  cols <- rb_call("predict_images", model_path, as.list(images), top = as.integer(top))
  data.frame(image = as.character(unlist(cols$image)), rank = as.integer(unlist(cols$rank)),
             class = as.character(unlist(cols$class)), probability = as.numeric(unlist(cols$probability)),
             stringsAsFactors = FALSE)
}
