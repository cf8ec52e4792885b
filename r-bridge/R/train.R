#' Train a spec: a recorded run, as `cnnspec train` makes
#'
#' Trains the spec with the Python training API, the same code and the same `train:` section as
#' `cnnspec train` (optimizer and learning rate, loss, metrics, schedule, early stopping,
#' augmentation, checkpoint of the best epoch), the arguments given here overriding the section.
#' The run directory then holds `history.csv`, `metrics.json` (test-split metrics),
#' `model.keras` with its metadata, learning curves and the confusion matrix; it is read back as a
#' [cnnspec_run].
#'
#' `data` is a dataset name (`"sample"`, the 500 Fashion-MNIST images shipped with cnnspec;
#' `"fashion_mnist"`, `"mnist"`, `"cifar10"`, `"digits"`, ...; see the cnnspec documentation) or R
#' arrays: `list(x, y)` for training plus `test_data = list(x, y)` to report test metrics on, and
#' optionally `validation_data = list(x, y)` to validate on (instead of a `validation_split`).
#' Labels follow [cnnspec_labels] (a factor's levels become the run's class names). Arrays are
#' written to `.npz` files in R's temporary directory (`data_file`), which the run's config.json
#' records.
#'
#' @param path A spec file (`"FILE#VARIANT"` picks a variant).
#' @param data A dataset name, or `list(x, y)` of R arrays.
#' @param epochs,batch_size,limit Whole numbers; `NULL`: the spec's (`limit`: all images).
#' @param out The run directory to create; `NULL`: `runs/SPEC-DATE-TIME` in the working directory,
#'   as `cnnspec train` names it.
#' @param test_data With array `data`: `list(x, y)`, the test split.
#' @param validation_data With array `data`: `list(x, y)` to validate on after each epoch.
#' @param optimizer,learning_rate,validation_split,seed Override the spec's `train:` section.
#' @param label_base `NULL` (automatic), 0 or 1: how integer labels count (see [cnnspec_labels]).
#' @param data_file With array `data`: where to write them (an `.npz` file).
#' @param ... Other options of the Python `train()` (`validation`, `data_path`, `force`, `resume`).
#' @return A [cnnspec_run].
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' spec <- system.file("specs", "table6.yaml", package = "cnnspec")
#' # one short epoch on 200 images of the bundled sample (the spec says 12 on Fashion-MNIST)
#' run <- cnnspec_train(spec, data = "sample", epochs = 1, limit = 200, out = tempfile("run-"))
#' run
#' plot(run)
#'
#' # R arrays: a factor's levels become the class names
#' x <- array(runif(60 * 28 * 28), dim = c(60, 28, 28))
#' classes <- c("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
#'              "Bag", "Ankle boot")
#' y <- factor(sample(classes, 60, replace = TRUE), levels = classes)
#' run2 <- cnnspec_train(spec, data = list(x[1:40, , ], y[1:40]), test_data = list(x[41:60, , ], y[41:60]),
#'                       epochs = 1, batch_size = 20, out = tempfile("run-"))
#' run2$metrics$class_names
#' \dontrun{
#' # the paper's training: 12 epochs on Fashion-MNIST
#' run <- cnnspec_train(spec, data = "fashion_mnist")
#' }
cnnspec_train <- function(path, data = "sample", epochs = NULL, batch_size = NULL, out = NULL, limit = NULL,
                          test_data = NULL, validation_data = NULL, optimizer = NULL, learning_rate = NULL,
                          validation_split = NULL, seed = NULL, label_base = NULL,
                          data_file = tempfile("cnnspec-data-", fileext = ".npz"), ...) {
  if (!is.character(path) || length(path) != 1) cnnspec_stop("path must be one spec file name")
  require_py("cnnspec.keras.training", "train", "cnnspec_train()")
  if (is.list(optimizer)) optimizer <- reticulate::dict(optimizer)
  flags <- list(out = out, epochs = as_int_or_null(epochs, "epochs"), batch_size = as_int_or_null(batch_size, "batch_size"),
                limit = as_int_or_null(limit, "limit"), optimizer = optimizer,
                learning_rate = as_num_or_null(learning_rate, "learning_rate"),
                validation_split = as_num_or_null(validation_split, "validation_split"),
                seed = as_int_or_null(seed, "seed"))
  flags <- c(flags[!vapply(flags, is.null, TRUE)], list(...))
  ret <- if (is.character(data) && length(data) == 1) {
    if (!is.null(test_data) || !is.null(validation_data))
      cnnspec_stop("test_data and validation_data go with array data (data = list(x, y)), not a dataset name")
    do.call(py_call, c(list("cnnspec.keras.training", "train", path, data = data), flags))
  } else {
    train_on_arrays(path, data, test_data, validation_data, label_base, data_file, flags)
  }
  cnnspec_run(rb_call("run_dir", ret))
}

train_on_arrays <- function(path, data, test_data, validation_data, label_base, data_file, flags) {
  if (!is.list(data) || length(data) != 2)
    cnnspec_stop("data must be a dataset name or list(x, y) of R arrays, got ", class(data)[1])
  if (!is.list(test_data) || length(test_data) != 2)
    cnnspec_stop("with R arrays, give test_data = list(x, y) too: the run reports its metrics on that test split")
  k <- rb_call("spec_units", path)
  tr <- cnnspec_class_ids(data[[2]], k, label_base = label_base, what = "data y")
  te <- cnnspec_class_ids(test_data[[2]], k, class_names = tr$class_names, label_base = label_base,
                          what = "test_data y")
  val <- list()
  if (!is.null(validation_data)) {
    if (!is.list(validation_data) || length(validation_data) != 2)
      cnnspec_stop("validation_data must be list(x, y), got ", class(validation_data)[1])
    va <- cnnspec_class_ids(validation_data[[2]], k, class_names = tr$class_names, label_base = label_base,
                            what = "validation_data y")
    val <- list(val_x = as_np(validation_data[[1]], "validation_data x"), val_y = as_ids(va$ids),
                val_file = sub("\\.npz$", "-validation.npz", data_file))
  }
  do.call(rb_call, c(list("train_arrays", path, as_np(data[[1]], "data x"), as_ids(tr$ids),
                          as_np(test_data[[1]], "test_data x"), as_ids(te$ids),
                          class_names = tr$class_names, data_file = data_file), val, flags))
}

#' A training run read back into R
#'
#' A run directory (from [cnnspec_train()] or `cnnspec train`) as an R object: `$history` (the
#' per-epoch `history.csv` as a data.frame), `$metrics` (the test-split `metrics.json`: loss,
#' accuracy, per-class figures, confusion matrix), `$run_dir`. `plot()` draws its learning curves
#' like [plot.cnnspec_history()]; [cnnspec_load()] gives its trained model, [cnnspec_export()]
#' exports it to ONNX.
#'
#' @param run_dir The run directory.
#' @param x A `cnnspec_run`.
#' @param y Unused.
#' @param metrics Which metrics to plot (default: loss and accuracy).
#' @param ... Passed on to [graphics::plot()] (`plot`), unused by `print()`.
#' @return A `cnnspec_run`; `print()` and `plot()` return it invisibly.
#' @name cnnspec_run
#' @export
#' @examples
#' # a run directory as cnnspec writes it (history.csv, metrics.json)
#' d <- file.path(tempdir(), "example-run")
#' dir.create(d, showWarnings = FALSE)
#' writeLines(c("epoch,accuracy,loss,val_accuracy,val_loss", "1,0.5,1.2,0.55,1.1", "2,0.7,0.8,0.68,0.9"),
#'            file.path(d, "history.csv"))
#' writeLines('{"loss": 0.91, "accuracy": 0.66, "dataset": "sample"}', file.path(d, "metrics.json"))
#' run <- cnnspec_run(d)
#' run
#' plot(run)
cnnspec_run <- function(run_dir) {
  if (!is.character(run_dir) || length(run_dir) != 1 || !dir.exists(run_dir))
    cnnspec_stop(paste(run_dir, collapse = " "), ": no such run directory")
  hist_file <- file.path(run_dir, "history.csv")
  history <- if (file.exists(hist_file)) utils::read.csv(hist_file, stringsAsFactors = FALSE) else data.frame()
  met_file <- file.path(run_dir, "metrics.json")
  metrics <- if (file.exists(met_file)) read_json(met_file) else list()
  structure(list(history = history, metrics = metrics, run_dir = normalizePath(run_dir)), class = "cnnspec_run")
}

# metrics.json without Python (a run can be read on a machine without cnnspec's Python side).
read_json <- function(path) {
  tryCatch(jsonlite::fromJSON(path, simplifyVector = TRUE),
           error = function(e) cnnspec_stop(path, ": not readable JSON (", one_line(conditionMessage(e)), ")"))
}

#' @rdname cnnspec_run
#' @export
print.cnnspec_run <- function(x, ...) {
  cat(sprintf("cnnspec run: %s\n", x$run_dir))
  h <- x$history
  if (nrow(h)) {
    last <- h[nrow(h), setdiff(names(h), "epoch"), drop = FALSE]
    num <- vapply(last, is.numeric, TRUE)
    cat(sprintf("epochs: %d; last epoch: %s\n", nrow(h),
                paste(sprintf("%s %.4g", names(last)[num], unlist(last[num])), collapse = ", ")))
  }
  m <- x$metrics
  scalars <- m[vapply(m, function(v) length(v) == 1 && (is.numeric(v) || is.character(v) || is.logical(v)), TRUE)]
  if (length(scalars))
    cat(sprintf("metrics: %s\n", paste(sprintf("%s %s", names(scalars),
        vapply(scalars, function(v) if (is.numeric(v)) format(signif(v, 4)) else as.character(v), "")),
        collapse = ", ")))
  invisible(x)
}

#' @rdname cnnspec_run
#' @export
plot.cnnspec_run <- function(x, y, metrics = NULL, ...) {
  h <- x$history
  if (!nrow(h)) cnnspec_stop("the run has no history.csv rows to plot: ", x$run_dir)
  plot_curves(as.list(h[vapply(h, is.numeric, TRUE)]), metrics, basename(x$run_dir), ...)
  invisible(x)
}
