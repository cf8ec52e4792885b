#' Train a spec with the Python training API (cnnspec.keras.training.train) and read the run back.
cnnspec_train <- function(path, data = "sample", epochs = NULL, batch_size = NULL, out = tempfile("cnnspec-run-"),
                          limit = NULL, ...) {
  require_py("cnnspec.keras.training", "train", "cnnspec_train()")
  args <- list(path, data = data, out = out)
  extra <- list(epochs = as_int_or_null(epochs, "epochs"), batch_size = as_int_or_null(batch_size, "batch_size"),
                limit = as_int_or_null(limit, "limit"))
  args <- c(args, extra[!vapply(extra, is.null, TRUE)], list(...))
  ret <- do.call(py_call, c(list("cnnspec.keras.training", "train"), args))
  cnnspec_run(cnnspec_python()$run_dir(ret))
}

#' A training run directory (history.csv, metrics.json, model.keras) as an R object.
cnnspec_run <- function(run_dir) {
  if (!dir.exists(run_dir)) cnnspec_stop(run_dir, ": no such run directory")
  hist_file <- file.path(run_dir, "history.csv")
  history <- if (file.exists(hist_file)) utils::read.csv(hist_file, stringsAsFactors = FALSE) else data.frame()
  met_file <- file.path(run_dir, "metrics.json")
  metrics <- if (file.exists(met_file)) cnnspec_python()$read_json(met_file) else list()
  structure(list(history = history, metrics = metrics, run_dir = normalizePath(run_dir)), class = "cnnspec_run")
}

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

#' Learning curves with base graphics: one panel per metric (loss, accuracy), training vs validation.
#' @export
plot.cnnspec_run <- function(x, y, metrics = NULL, ...) {
  h <- x$history
  if (!nrow(h)) cnnspec_stop("the run has no history.csv rows to plot: ", x$run_dir)
  epoch <- if ("epoch" %in% names(h)) h$epoch else seq_len(nrow(h))
  if (is.null(metrics)) {
    base <- setdiff(names(h)[vapply(h, is.numeric, TRUE)], c("epoch", "lr", "learning_rate", "seconds", "time"))
    base <- base[!startsWith(base, "val_")]
    metrics <- c(intersect(c("loss", "accuracy"), base), setdiff(base, c("loss", "accuracy")))
    metrics <- metrics[seq_len(min(2, length(metrics)))]
  }
  op <- graphics::par(mfrow = c(length(metrics), 1), mar = c(4, 4, 1.5, 1))
  on.exit(graphics::par(op))
  for (m in metrics) {
    val <- paste0("val_", m)
    ys <- c(h[[m]], if (val %in% names(h)) h[[val]])
    graphics::plot(epoch, h[[m]], type = "o", pch = 16, col = "#1f77b4", ylim = range(ys, na.rm = TRUE),
                   xlab = "epoch", ylab = m, main = if (m == metrics[1]) basename(x$run_dir) else "", ...)
    if (val %in% names(h)) graphics::lines(epoch, h[[val]], type = "o", pch = 17, col = "#ff7f0e")
    graphics::legend(if (m == "loss") "topright" else "bottomright", legend = c("training", "validation"),
                     col = c("#1f77b4", "#ff7f0e"), pch = c(16, 17), lty = 1, bty = "n")
  }
  invisible(x)
}
