#' Build a spec as a Keras model
#'
#' The spec's Keras 3 model, compiled from the spec's `train:` section: its optimizer (with its
#' learning rate), loss and metrics, the same settings `cnnspec train` and [cnnspec_train()] use.
#' Arguments given here override the section, as the command line's options do. A spec without a
#' `train:` section gets the defaults (Adam with learning rate 0.001, sparse categorical
#' cross-entropy, accuracy). A one-unit output (a sigmoid) gets binary cross-entropy unless a loss
#' is given.
#'
#' The result prints as Keras's summary table (`print()`, `summary()`) and works with
#' [fit()] / [cnnspec_fit()], [evaluate()] / [cnnspec_evaluate()] and [predict()][predict.cnnspec_model].
#' It is a Python object: `model$keras` is the Keras model itself, and other `$` names reach it
#' too (`model$count_params()`, `model$layers`).
#'
#' @param path A spec file (`"FILE#VARIANT"` picks a variant).
#' @param compile Compile the model (`FALSE`: just build it).
#' @param optimizer An optimizer name (`"adam"`, `"sgd"`, `"adadelta"`, ...) or a list such as
#'   `list(name = "sgd", learning_rate = 0.01, momentum = 0.9)`; `NULL`: the spec's.
#' @param learning_rate The optimizer's learning rate; `NULL`: the spec's (or the optimizer's Keras 3
#'   default).
#' @param loss `"sparse_categorical_crossentropy"` or `"categorical_crossentropy"`; `NULL`: the spec's.
#'   Labels are given the same way either way (see [cnnspec_labels]).
#' @param metrics Metric names (`"accuracy"`, `"top_5_accuracy"`); `NULL`: the spec's.
#' @param seed Seed for the initial weights; `NULL`: the spec's (`train: seed`, default 0).
#' @param scale Inputs are fed to the network as `x * scale` (plus the section's `offset`), so that
#'   the model, once exported, takes raw pixels as `cnnspec predict` does. `NULL`: the spec's
#'   `train: scale`, else decided by the first fit as training runs decide it from their data:
#'   1 when `x` lies within 0..1 (you scaled it yourself), 1/255 for pixels within 0..255.
#' @return An object of class `cnnspec_model`.
#' @seealso [cnnspec_load()] for a trained model, [cnnspec_check()] for the table without Keras.
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' spec <- system.file("specs", "table6.yaml", package = "cnnspec")
#' model <- cnnspec_model(spec)     # Adadelta with learning rate 1.0: the spec's train section
#' model
#' model$count_params()
#' faster <- cnnspec_model(spec, optimizer = "adam", learning_rate = 0.01)
#' summary(faster)
cnnspec_model <- function(path, compile = TRUE, optimizer = NULL, learning_rate = NULL, loss = NULL,
                          metrics = NULL, seed = NULL, scale = NULL) {
  if (!is.character(path) || length(path) != 1) cnnspec_stop("path must be one spec file name")
  require_py("keras", "Model", "cnnspec_model()")
  if (is.list(optimizer)) optimizer <- reticulate::dict(optimizer)
  as_model(rb_call("build", path, compile = isTRUE(compile), optimizer = optimizer,
                   learning_rate = as_num_or_null(learning_rate, "learning_rate"), loss = loss,
                   metrics = if (is.null(metrics)) NULL else as.list(metrics), seed = as_int_or_null(seed, "seed"),
                   scale = as_num_or_null(scale, "scale")))
}

as_model <- function(py) {
  class(py) <- unique(c("cnnspec_model", class(py)))
  py
}

model_info <- function(object) rb_call("model_info", object)

#' @export
format.cnnspec_model <- function(x, ...) {
  info <- model_info(x)
  r <- info$rows
  rows <- data.frame(name = as.character(unlist(r$name)), type = as.character(unlist(r$type)),
                     output = as.character(unlist(r$output)), params = as.numeric(unlist(r$params)),
                     stringsAsFactors = FALSE)
  out <- summary_table(info$label, "", rows, info$totals)
  out <- c(out, sprintf("Input: %s (%s)", paste(unlist(info$input_shape), collapse = " x "), info$input_dtype))
  if (isTRUE(info$compiled))
    out <- c(out, sprintf("Compiled: optimizer %s (learning rate %s), loss %s, metrics %s", info$optimizer,
                          format(signif(info$learning_rate, 6)), info$loss,
                          paste(unlist(info$metrics), collapse = ", ")))
  else out <- c(out, "Not compiled")
  cn <- unlist(info$class_names)
  if (length(cn)) out <- c(out, sprintf("Classes: %s", paste(cn, collapse = ", ")))
  if (is.null(info$scale))
    out <- c(out, "Input scale: decided by the first fit (1 for x within 0..1, 1/255 for pixels within 0..255)")
  else if (!identical(c(info$scale, info$offset), c(1, 0)))
    out <- c(out, sprintf("Inputs are fed as x * %s + %s", format(signif(info$scale, 6)), format(info$offset)))
  out
}

#' Print or summarise a cnnspec model
#'
#' Both show the layer table as Keras's `summary()` prints it (layer name and type, output shape,
#' parameters, totals), the input, the compiled optimizer, loss and metrics, and the class names
#' once known. `summary()` also returns the table as a data.frame (invisibly).
#'
#' @param x,object A `cnnspec_model`.
#' @param ... Unused.
#' @return `print()`: `x`, invisibly. `summary()`: a data.frame (`name`, `type`, `output`, `params`).
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' model <- cnnspec_model(system.file("specs", "table3.yaml", package = "cnnspec"))
#' print(model)
#' layers <- summary(model)
#' layers$params
print.cnnspec_model <- function(x, ...) {
  cat(format(x), sep = "\n")
  invisible(x)
}

#' @rdname print.cnnspec_model
#' @export
summary.cnnspec_model <- function(object, ...) {
  lines <- format(object)
  cat(lines, sep = "\n")
  r <- model_info(object)$rows
  invisible(data.frame(name = as.character(unlist(r$name)), type = as.character(unlist(r$type)),
                       output = as.character(unlist(r$output)), params = as.numeric(unlist(r$params)),
                       stringsAsFactors = FALSE))
}

# Labels -> 0-based ids for this model (see cnnspec_labels), remembering class names from a factor.
model_ids <- function(model, y, label_base, what = "y") {
  info <- model_info(model)
  cn <- unlist(info$class_names)
  cnnspec_class_ids(y, info$units, class_names = if (length(cn)) cn else NULL, label_base = label_base,
                    what = what)
}

#' Fit a cnnspec model on R arrays
#'
#' Trains the model in place, as keras3's `fit()` does, taking R arrays and labels as R users hold
#' them (see [cnnspec_labels]: factors, one-hot matrices, 0- or 1-based integers). Grayscale images
#' given without their channel dimension (`N x 28 x 28` for a `28 x 28 x 1` input) get it added.
#' `epochs`, `batch_size` and `validation_split` default to the spec's `train:` section (then 1,
#' 32 and none); the optimizer, learning rate, loss and metrics are the ones the model was compiled
#' with by [cnnspec_model()]. (The section's learning-rate schedules, early stopping, augmentation
#' and checkpoints belong to recorded runs: use [cnnspec_train()] for those.)
#'
#' @param model,object A `cnnspec_model` from [cnnspec_model()] or [cnnspec_load()].
#' @param x Inputs: a numeric array, samples first (`N x H x W x C`, `N x H x W`, `N x features`).
#' @param y Labels (see [cnnspec_labels]).
#' @param epochs,batch_size Whole numbers; `NULL`: the spec's.
#' @param validation_split Fraction of `x` held out for validation; `NULL`: the spec's.
#' @param validation_data `list(x, y)` to validate on instead.
#' @param verbose 0 (silent), 1 or 2, as in Keras.
#' @param shuffle Shuffle each epoch; `NULL`: the spec's (default `TRUE`).
#' @param label_base `NULL` (automatic), 0 or 1: how integer labels count (see [cnnspec_labels]).
#' @param ... Unused.
#' @return A `cnnspec_history` (see [plot.cnnspec_history()]), invisibly for `fit()`.
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' model <- cnnspec_model(system.file("specs", "table3.yaml", package = "cnnspec"))
#' x <- array(runif(64 * 28 * 28), dim = c(64, 28, 28))          # no channel dimension
#' y <- factor(sample(c("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
#'                      "nine"), 64, replace = TRUE),
#'             levels = c("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"))
#' history <- cnnspec_fit(model, x, y, epochs = 2, batch_size = 16, validation_split = 0.25)
#' history
#' plot(history)
cnnspec_fit <- function(model, x, y, epochs = NULL, batch_size = NULL, validation_split = NULL,
                        validation_data = NULL, verbose = 0, shuffle = NULL, label_base = NULL) {
  check_model(model)
  lab <- model_ids(model, y, label_base)
  val <- NULL
  if (!is.null(validation_data)) {
    if (!is.list(validation_data) || length(validation_data) != 2)
      cnnspec_stop("validation_data must be list(x, y), got ", class(validation_data)[1], " of length ",
                   length(validation_data))
    vlab <- model_ids(model, validation_data[[2]], label_base, "validation_data y")
    if (!is.null(lab$class_names) && !is.null(vlab$class_names) && !identical(lab$class_names, vlab$class_names))
      cnnspec_stop("validation_data y has classes ", paste(vlab$class_names, collapse = ", "),
                   " but y has ", paste(lab$class_names, collapse = ", "))
    val <- reticulate::tuple(as_np(validation_data[[1]], "validation_data x"), as_ids(vlab$ids))
  }
  h <- rb_call("fit", model, as_np(x), as_ids(lab$ids), epochs = as_int_or_null(epochs, "epochs"),
               batch_size = as_int_or_null(batch_size, "batch_size"),
               validation_split = as_num_or_null(validation_split, "validation_split"), validation_data = val,
               verbose = as_int_or_null(verbose, "verbose"), shuffle = if (is.null(shuffle)) NULL else isTRUE(shuffle),
               class_names = lab$class_names)
  new_history(lapply(h$metrics, function(v) as.numeric(unlist(v))), h$params)
}

#' @rdname cnnspec_fit
#' @method fit cnnspec_model
#' @export
fit.cnnspec_model <- function(object, x, y, epochs = NULL, batch_size = NULL, validation_split = NULL,
                              validation_data = NULL, verbose = 0, shuffle = NULL, label_base = NULL, ...) {
  invisible(cnnspec_fit(object, x, y, epochs = epochs, batch_size = batch_size, validation_split = validation_split,
                        validation_data = validation_data, verbose = verbose, shuffle = shuffle,
                        label_base = label_base))
}

#' @importFrom generics fit
#' @export
generics::fit

as_ids <- function(ids) reticulate::np_array(as.integer(ids), dtype = "int64")

check_model <- function(model) {
  if (!inherits(model, "cnnspec_model"))
    cnnspec_stop("expected a cnnspec_model (from cnnspec_model() or cnnspec_load()), got ", class(model)[1])
}

#' Evaluate a cnnspec model on R arrays
#'
#' Loss and metrics of the model on `x` and `y`, as keras3's `evaluate()` returns them.
#'
#' @param model A `cnnspec_model` from [cnnspec_model()] or [cnnspec_load()].
#' @param batch_size Batch size (default 32).
#' @inheritParams cnnspec_fit
#' @return A named numeric vector (`loss`, `accuracy`, ...).
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' model <- cnnspec_model(system.file("specs", "table3.yaml", package = "cnnspec"))
#' x <- array(runif(32 * 28 * 28), dim = c(32, 28, 28, 1))
#' y <- sample(0:9, 32, replace = TRUE)
#' cnnspec_evaluate(model, x, y)
#' evaluate(model, x, y)["accuracy"]
cnnspec_evaluate <- function(model, x, y, batch_size = NULL, label_base = NULL) {
  check_model(model)
  lab <- model_ids(model, y, label_base)
  res <- rb_call("evaluate", model, as_np(x), as_ids(lab$ids), batch_size = as_int_or_null(batch_size, "batch_size"))
  vapply(res, function(v) as.numeric(v), 0)
}

#' @rdname cnnspec_evaluate
#' @param object A model.
#' @param ... Arguments for the method.
#' @export
evaluate <- function(object, ...) UseMethod("evaluate")

#' @rdname cnnspec_evaluate
#' @export
evaluate.cnnspec_model <- function(object, x, y, batch_size = NULL, label_base = NULL, ...) {
  cnnspec_evaluate(object, x, y, batch_size = batch_size, label_base = label_base)
}

#' Predict with a cnnspec model on an R array
#'
#' Class probabilities for raw inputs (a run's model scales them as it was trained: `x * scale +
#' offset` from its metadata). Works for Keras models ([cnnspec_model()], [cnnspec_load()] of a run
#' or `.keras` file) and exported ONNX models ([cnnspec_load()] of an `.onnx` file, which needs no
#' TensorFlow).
#'
#' @param object A `cnnspec_model` or `cnnspec_onnx`.
#' @param x A numeric array, samples first; a missing trailing channel dimension is added for
#'   one-channel inputs.
#' @param type `"prob"`: the probability matrix (one column per class, named by class);
#'   `"class"`: the most probable class as a factor (levels: the class names).
#' @param batch_size Batch size for inference.
#' @param ... Unused.
#' @return A matrix (`N x K`) or a factor of length `N`.
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' model <- cnnspec_model(system.file("specs", "table3.yaml", package = "cnnspec"))
#' x <- array(runif(5 * 28 * 28), dim = c(5, 28, 28))
#' round(predict(model, x), 3)
#' predict(model, x, type = "class")
predict.cnnspec_model <- function(object, x, type = c("prob", "class"), batch_size = NULL, ...) {
  type <- match.arg(type)
  probs <- rb_call("predict", object, as_np(x), batch_size = as_int_or_null(batch_size, "batch_size"))
  probs <- matrix(as.numeric(probs), nrow = dim(probs)[1])
  cn <- unlist(model_info(object)$class_names)
  shape_predictions(probs, cn, type)
}

shape_predictions <- function(probs, class_names, type) {
  k <- ncol(probs)
  names <- if (length(class_names)) class_names else as.character(seq_len(max(k, 2)) - 1L)
  if (k == length(names)) colnames(probs) <- names
  if (type == "prob") return(probs)
  idx <- if (k == 1) as.integer(probs[, 1] > 0.5) + 1L else max.col(probs, ties.method = "first")
  factor(names[idx], levels = names)
}
