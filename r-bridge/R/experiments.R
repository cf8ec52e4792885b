# Sweeps and comparisons (docs/experiments.md): the Python `cnnspec sweep` and `cnnspec compare`,
# returning data.frames.

# A data.frame from the Python side's columns: numbers stay numeric (NaN -> NA), "" becomes NA.
columns_df <- function(cols) {
  df <- lapply(cols, function(v) {
    v <- unlist(v)
    if (is.null(v)) return(character(0))
    if (is.numeric(v)) { v[is.nan(v)] <- NA; return(v) }
    v <- as.character(v)
    v[!nzchar(v)] <- NA_character_
    v
  })
  as.data.frame(df, stringsAsFactors = FALSE, check.names = FALSE)
}

#' Run a sweep: every trial of a sweep file, as `cnnspec sweep` does
#'
#' Trains every trial of the sweep file (variants x grid or random search x repeats, and
#' baselines) into `out`, each trial an ordinary run directory under `out/trials/`, and returns
#' the comparison table. Resumable: calling it again on the same `out` trains only what is missing
#' (finished trials are kept, interrupted ones continue). See docs/experiments.md for the sweep file.
#'
#' @param path A sweep file (YAML or JSON).
#' @param out The sweep directory (created, or continued when it exists).
#' @param executor `"local"` (a process per trial on this machine) or `"ray"`.
#' @param max_concurrent Trials at once (`NULL`: one per core).
#' @param address With `executor = "ray"`: a Ray cluster's `HOST:PORT` (`NULL`: `RAY_ADDRESS`, else a
#'   local Ray started for the sweep).
#' @param extend Accept a changed sweep file for an existing `out` and add its new trials.
#' @return A data.frame, one row per trial: `trial`, `kind`, `spec`, `variant`, one column per swept
#'   key (`train.learning_rate`, `vars.NAME`, ...), `repeat`, `params`, `epochs`, `best_metric`,
#'   `test_accuracy`, `test_error`, `seconds`, `status`, `reason`, `run_dir`. Attribute `best`: the
#'   best trial's name (its spec is `out/best.yaml`).
#' @seealso [cnnspec_compare()] for any set of runs and sweeps.
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' sweep <- tempfile(fileext = ".yaml")
#' writeLines(c(paste0("spec: ", system.file("specs", "table6.yaml", package = "cnnspec")),
#'              "data: {name: sample, limit: 100}",
#'              "train: {epochs: 1}",
#'              "grid:",
#'              "  train.learning_rate: [0.1, 1.0]"), sweep)
#' tab <- cnnspec_sweep(sweep, tempfile("sweep-"))
#' tab[, c("trial", "train.learning_rate", "test_accuracy", "status")]
cnnspec_sweep <- function(path, out, executor = c("local", "ray"), max_concurrent = NULL, address = NULL,
                          extend = FALSE) {
  if (!is.character(path) || length(path) != 1) cnnspec_stop("path must be one sweep file name")
  if (!is.character(out) || length(out) != 1) cnnspec_stop("out must be one directory name")
  executor <- match.arg(executor)
  require_py("cnnspec.keras.training", "train", "cnnspec_sweep()")
  res <- py_call("cnnspec.experiments.sweep", "sweep_columns", path, out, executor = executor,
                 max_concurrent = as_int_or_null(max_concurrent, "max_concurrent"), address = address,
                 extend = isTRUE(extend))
  df <- columns_df(res$columns)
  attr(df, "best") <- if (nzchar(res$best)) res$best else NA_character_
  df
}

#' Compare runs: one table for run directories, baselines and sweeps
#'
#' The table `cnnspec compare` prints, for any mix of run directories (from [cnnspec_train()] or
#' `cnnspec train`), baseline runs (`cnnspec baseline`) and sweep directories ([cnnspec_sweep()]).
#' Needs no Keras: it reads the runs' files.
#'
#' @param paths Run or sweep directories (a character vector).
#' @param sort A column to sort by, best first for `test_accuracy` and `best_metric` (`NULL`: as given).
#' @param metric The validation metric shown for plain runs (`"val_accuracy"`, `"val_loss"`, ...).
#' @return A data.frame with the columns of [cnnspec_sweep()].
#' @export
#' @examplesIf cnnspec_available(keras = TRUE)
#' run <- cnnspec_train(system.file("specs", "table6.yaml", package = "cnnspec"), data = "sample",
#'                      epochs = 1, limit = 100)
#' cnnspec_compare(run$run_dir)[, c("trial", "test_accuracy", "test_error")]
cnnspec_compare <- function(paths, sort = NULL, metric = "val_accuracy") {
  if (inherits(paths, "cnnspec_run")) paths <- paths$run_dir
  if (!is.character(paths) || !length(paths)) cnnspec_stop("paths must be run or sweep directory names")
  cnnspec_python()
  res <- py_call("cnnspec.experiments.results", "compare_columns", as.list(paths), sort = sort, metric = metric)
  columns_df(res)
}
