#' The spec's Keras model (a Python object through reticulate), compiled for integer labels.
#' Use it as model$fit(x, y, epochs = 1L), model$evaluate(x, y), model$count_params(), or with
#' the R keras verbs when that package is installed.
cnnspec_model <- function(path, compile = TRUE, optimizer = "adam", loss = NULL, metrics = "accuracy") {
  if (!is.character(path) || length(path) != 1) cnnspec_stop("path must be one spec file name")
  py_call("cnnspec.interop.rbridge", "build", path, compile = isTRUE(compile), optimizer = optimizer, loss = loss,
          metrics = if (is.null(metrics)) NULL else as.list(metrics))
}

#' Fit a cnnspec model on R arrays (doubles or integers; labels as integer class ids).
#' Returns the history as a data.frame (one row per epoch).
cnnspec_fit <- function(model, x, y, epochs = 1, batch_size = 32, validation_split = 0, verbose = 0, ...) {
  if (!is.array(x) && !is.numeric(x)) cnnspec_stop("x must be a numeric array (images, rows first)")
  if (length(y) != if (is.null(dim(x))) length(x) else dim(x)[1])
    cnnspec_stop("y has ", length(y), " labels but x has ", if (is.null(dim(x))) length(x) else dim(x)[1], " rows")
  h <- py_call("cnnspec.interop.rbridge", "fit", model, reticulate::np_array(x, dtype = "float32"),
               reticulate::np_array(as.integer(y), dtype = "int64"),
               epochs = as_int_or_null(epochs, "epochs"), batch_size = as_int_or_null(batch_size, "batch_size"),
               validation_split = as.numeric(validation_split), verbose = as_int_or_null(verbose, "verbose"), ...)
  df <- as.data.frame(lapply(h, unlist))
  cbind(epoch = seq_len(nrow(df)), df)
}
