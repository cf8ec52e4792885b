new_history <- function(metrics, params = list()) {
  structure(list(params = params, metrics = metrics), class = "cnnspec_history")
}

#' Training history: print, plot, data.frame
#'
#' [cnnspec_fit()] returns a `cnnspec_history`, laid out as keras3's: `$params` (epochs, batch
#' size, samples, optimizer, learning rate, loss) and `$metrics` (one numeric vector per metric,
#' one value per epoch: `loss`, `accuracy`, `val_loss`, `val_accuracy`, ...). `plot()` draws the
#' learning curves with base graphics, one panel per metric (loss, then accuracy), training and
#' validation in one panel; `as.data.frame()` gives the long form (`epoch`, `value`, `metric`,
#' `data`).
#'
#' @param x A `cnnspec_history` (or for `plot()`, a [cnnspec_run]).
#' @param y Unused.
#' @param metrics Which metrics to draw (default: loss and accuracy, or the first two).
#' @param main Title of the first panel.
#' @param row.names,optional Unused.
#' @param ... Passed on to [graphics::plot()] (`plot`), unused otherwise.
#' @return `plot()` and `print()`: `x`, invisibly; `as.data.frame()`: a data.frame.
#' @name plot.cnnspec_history
#' @examplesIf cnnspec_available(keras = TRUE)
#' model <- cnnspec_model(system.file("specs", "table3.yaml", package = "cnnspec"))
#' x <- array(runif(48 * 28 * 28), dim = c(48, 28, 28, 1))
#' y <- sample(1:10, 48, replace = TRUE)           # 1-based: contains 10 and no 0
#' h <- cnnspec_fit(model, x, y, epochs = 3, batch_size = 16, validation_split = 0.25)
#' h
#' plot(h)
#' head(as.data.frame(h))
NULL

#' @rdname plot.cnnspec_history
#' @export
print.cnnspec_history <- function(x, ...) {
  m <- x$metrics
  n <- if (length(m)) length(m[[1]]) else 0
  cat(sprintf("Final epoch (plot to see history):%s\n", if (n) sprintf(" %d epoch(s)", n) else ""))
  if (n) {
    last <- vapply(m, function(v) v[length(v)], 0)
    w <- max(nchar(names(last)))
    cat(sprintf("%s: %.4g", formatC(names(last), width = w), last), sep = "\n")
  }
  invisible(x)
}

#' @rdname plot.cnnspec_history
#' @export
as.data.frame.cnnspec_history <- function(x, row.names = NULL, optional = FALSE, ...) {
  m <- x$metrics
  if (!length(m)) return(data.frame(epoch = integer(), value = numeric(), metric = character(), data = character()))
  parts <- lapply(names(m), function(k) {
    val <- startsWith(k, "val_")
    data.frame(epoch = seq_along(m[[k]]), value = m[[k]], metric = if (val) substring(k, 5) else k,
               data = if (val) "validation" else "training", stringsAsFactors = FALSE)
  })
  df <- do.call(rbind, parts)
  df$metric <- factor(df$metric, levels = unique(df$metric))
  df$data <- factor(df$data, levels = c("training", "validation"))
  df
}

#' @rdname plot.cnnspec_history
#' @export
plot.cnnspec_history <- function(x, y, metrics = NULL, main = "", ...) {
  plot_curves(x$metrics, metrics, main, ...)
  invisible(x)
}

# Learning curves from a named list of per-epoch vectors (training, and val_ for validation).
plot_curves <- function(m, metrics = NULL, main = "", ...) {
  if (!length(m) || !length(m[[1]])) cnnspec_stop("the history has no epochs to plot")
  base <- names(m)[!startsWith(names(m), "val_") & !names(m) %in% c("epoch", "lr", "learning_rate", "seconds", "time")]
  if (is.null(metrics)) {
    metrics <- c(intersect(c("loss", "accuracy"), base), setdiff(base, c("loss", "accuracy")))
    metrics <- metrics[seq_len(min(2, length(metrics)))]
  }
  missing <- setdiff(metrics, base)
  if (length(missing)) cnnspec_stop("no metric ", missing[1], " in the history (it has ", paste(base, collapse = ", "), ")")
  op <- graphics::par(mfrow = c(length(metrics), 1), mar = c(4, 4, 1.5, 1))
  on.exit(graphics::par(op))
  for (k in metrics) {
    val <- paste0("val_", k)
    epoch <- seq_along(m[[k]])
    ys <- c(m[[k]], m[[val]])
    graphics::plot(epoch, m[[k]], type = "o", pch = 16, col = "#1f77b4", ylim = range(ys, na.rm = TRUE),
                   xlab = "epoch", ylab = k, main = if (k == metrics[1]) main else "", ...)
    legend <- "training"
    if (!is.null(m[[val]])) {
      graphics::lines(seq_along(m[[val]]), m[[val]], type = "o", pch = 17, col = "#ff7f0e")
      legend <- c(legend, "validation")
    }
    graphics::legend(if (k == "loss") "topright" else "bottomright", legend = legend,
                     col = c("#1f77b4", "#ff7f0e")[seq_along(legend)], pch = c(16, 17)[seq_along(legend)],
                     lty = 1, bty = "n")
  }
}
