#' Export a trained model to ONNX with the Python export API (cnnspec.keras.export.export_model).
#' model_or_run: a cnnspec_run, a .keras file, or a Keras model object from cnnspec_model().
cnnspec_export <- function(model_or_run, path = "model.onnx", ...) {
  require_py("cnnspec.keras.export", "export_model", "cnnspec_export()")
  src <- if (inherits(model_or_run, "cnnspec_run")) {
    file.path(model_or_run$run_dir, "model.keras")
  } else if (is.character(model_or_run) && length(model_or_run) == 1) {
    model_or_run
  } else if (inherits(model_or_run, "python.builtin.object")) {
    tmp <- tempfile(fileext = ".keras")
    model_or_run$save(tmp)
    tmp
  } else cnnspec_stop("cnnspec_export() takes a cnnspec_run, a .keras file or a Keras model")
  if (!file.exists(src)) cnnspec_stop(src, ": no such model file")
  report <- py_call("cnnspec.keras.export", "export_model", src, path, ...)
  invisible(structure(path, report = report))
}

#' Top classes and probabilities for image files with an exported .onnx model (cnnspec.deploy.runtime).
cnnspec_predict <- function(model_path, images, top = 5) {
  if (!is.character(model_path) || length(model_path) != 1 || !grepl("\\.onnx$", model_path, ignore.case = TRUE))
    cnnspec_stop("cnnspec_predict() takes an .onnx file (export one with cnnspec_export()), got ",
                 deparse(model_path))
  if (!file.exists(model_path)) cnnspec_stop(model_path, ": no such file")
  images <- as.character(images)
  missing <- images[!file.exists(images)]
  if (length(missing)) cnnspec_stop(missing[1], ": no such image file")
  require_py("cnnspec.deploy.runtime", "OnnxModel", "cnnspec_predict()")
  cols <- py_call("cnnspec.interop.rbridge", "predict_images", model_path, as.list(images), top = as.integer(top))
  data.frame(image = as.character(unlist(cols$image)), rank = as.integer(unlist(cols$rank)),
             class = as.character(unlist(cols$class)), probability = as.numeric(unlist(cols$probability)),
             stringsAsFactors = FALSE)
}
