# Finding Python and the 'cnnspec' package, and turning Python errors into one-line R errors.

.cnnspec <- new.env(parent = emptyenv())

# An R error condition of class "cnnspec_error" whose message is one line.
cnnspec_error <- function(message) {
  structure(class = c("cnnspec_error", "error", "condition"),
            list(message = one_line(message), call = NULL))
}

cnnspec_stop <- function(...) stop(cnnspec_error(paste0(...)))

one_line <- function(x) gsub("\\s+", " ", trimws(paste(x, collapse = " ")))

# The first informative line of a reticulate error ("ModuleNotFoundError: No module named 'x'").
py_reason <- function(e) {
  lines <- strsplit(conditionMessage(e), "\n", fixed = TRUE)[[1]]
  lines <- trimws(gsub("\033\\[[0-9;]*m", "", lines))
  lines <- lines[nzchar(lines)]
  lines <- lines[!grepl(paste0("py_last_error|^Detailed traceback|^Run `reticulate|^Exception encountered when ",
                               "calling|^Arguments received by|^File \""), lines)]
  if (!length(lines)) return("unknown error")
  err <- grep("(Error|Exception|error):", lines, value = TRUE)
  one_line(if (length(err)) err[length(err)] else lines[1])
}

py_choice <- function() {
  opt <- getOption("cnnspec.python", "")
  if (!is.null(opt) && nzchar(opt)) return(list(python = opt, source = "option cnnspec.python"))
  env <- Sys.getenv("CNNSPEC_PYTHON")
  if (nzchar(env)) return(list(python = env, source = "CNNSPEC_PYTHON"))
  env <- Sys.getenv("RETICULATE_PYTHON")
  if (nzchar(env)) return(list(python = env, source = "RETICULATE_PYTHON"))
  list(python = "", source = "reticulate's default Python")
}

.fix <- paste0("set CNNSPEC_PYTHON to the Python of a cnnspec environment (in a fresh R session, before ",
               "loading cnnspec: Sys.setenv(CNNSPEC_PYTHON = \"/path/to/cnnspec/.venv/bin/python\"), or in ",
               "~/.Renviron); `scripts/setup.sh` in the cnnspec repository creates that environment (.venv)")

#' The Python side of cnnspec
#'
#' Starts Python once per R session and imports the `cnnspec.interop.rbridge` module. The Python
#' used is, in this order: option `cnnspec.python`, the environment variable `CNNSPEC_PYTHON`,
#' `RETICULATE_PYTHON`, then reticulate's default. `CNNSPEC_PYTHONPATH` (or option
#' `cnnspec.pythonpath`) is put on `sys.path` first, for a checkout that is not pip-installed.
#' Every other function calls this one; call it yourself to see which Python is used.
#'
#' When Python, NumPy or the `cnnspec` Python package is missing or unusable (for instance NumPy 2,
#' which reticulate 1.28 cannot convert), the error is one line of class `cnnspec_error` saying
#' to set `CNNSPEC_PYTHON` (or run `scripts/setup.sh`).
#'
#' @return The Python module `cnnspec.interop.rbridge` (a reticulate module object), invisibly.
#' @seealso [cnnspec_available()] to test without an error.
#' @export
#' @examplesIf cnnspec_available()
#' rb <- cnnspec_python()
#' reticulate::py_config()$python
cnnspec_python <- function() {
  if (!is.null(.cnnspec$rb)) return(invisible(.cnnspec$rb))
  choice <- py_choice()
  py <- choice$python
  if (nzchar(py)) {
    if (!file.exists(py))
      cnnspec_stop(choice$source, " is ", py, ", which does not exist: ", .fix)
    if (reticulate::py_available(initialize = FALSE)) {
      current <- reticulate::py_config()$python
      if (normalizePath(current, mustWork = FALSE) != normalizePath(py, mustWork = FALSE) &&
          !identical(current, py))
        cnnspec_stop("reticulate already started ", current, ", not ", py, " (", choice$source,
                     "): restart R and load cnnspec before anything else uses Python")
    } else {
      # RETICULATE_PYTHON forces the choice (and keeps reticulate from looking for Poetry/pipenv projects).
      Sys.setenv(RETICULATE_PYTHON = py)
      ok <- tryCatch({ reticulate::use_python(py, required = TRUE); TRUE },
                     error = function(e) py_reason(e))
      if (!isTRUE(ok)) cnnspec_stop("cannot use ", py, " (", choice$source, "): ", ok, "; ", .fix)
    }
  }
  sys <- tryCatch(reticulate::import("sys", convert = FALSE), error = function(e)
    cnnspec_stop("cannot start Python (", choice$source, if (nzchar(py)) paste0(": ", py), "): ",
                 py_reason(e), "; ", .fix))
  pp <- getOption("cnnspec.pythonpath", "")
  if (is.null(pp) || !nzchar(pp)) pp <- Sys.getenv("CNNSPEC_PYTHONPATH")
  if (nzchar(pp)) {
    for (p in rev(strsplit(pp, .Platform$path.sep, fixed = TRUE)[[1]]))
      if (nzchar(p)) sys$path$insert(0L, normalizePath(p, mustWork = FALSE))
  }
  python <- tryCatch(reticulate::py_config()$python, error = function(e) py)
  np <- tryCatch(reticulate::import("numpy"), error = function(e)
    cnnspec_stop("Python ", python, " (", choice$source, ") has no NumPy, so it is not a cnnspec environment: ",
                 .fix))
  npv <- as.character(np$`__version__`)
  if (utils::packageVersion("reticulate") < "1.38" && as.integer(strsplit(npv, ".", fixed = TRUE)[[1]][1]) >= 2)
    cnnspec_stop("Python ", python, " (", choice$source, ") has NumPy ", npv, ", which reticulate ",
                 as.character(utils::packageVersion("reticulate")), " cannot convert: ", .fix)
  rb <- tryCatch(reticulate::import("cnnspec.interop.rbridge"), error = function(e)
    cnnspec_stop("cannot import the Python package 'cnnspec' with ", python, " (", choice$source,
                 "; tried option cnnspec.python, CNNSPEC_PYTHON, RETICULATE_PYTHON, then reticulate's default): ",
                 py_reason(e), "; ", .fix))
  .cnnspec$rb <- rb
  invisible(rb)
}

#' Is the Python side of cnnspec usable?
#'
#' `TRUE` when [cnnspec_python()] succeeds (Python, NumPy and the `cnnspec` Python package found),
#' `FALSE` otherwise, without an error. With `keras = TRUE`, also that Keras imports (needed to
#' build, train, load and export models; checking and ONNX prediction do not need it).
#' Examples and tests use it to run only where cnnspec is set up.
#'
#' @param keras Also require the Python `keras` module.
#' @return `TRUE` or `FALSE`; when `FALSE`, attribute `reason` holds the one-line reason.
#' @export
#' @examples
#' cnnspec_available()
cnnspec_available <- function(keras = FALSE) {
  res <- tryCatch({ cnnspec_python(); TRUE }, error = function(e) structure(FALSE, reason = conditionMessage(e)))
  if (isTRUE(res) && isTRUE(keras) && !isTRUE(rb_call("has_module", "keras")))
    res <- structure(FALSE, reason = "the Python module keras is not installed in this cnnspec environment")
  res
}

# Call module.function(...) on the Python side; a failure becomes a cnnspec_error condition.
py_call <- function(module, fun, ...) {
  rb <- cnnspec_python()
  res <- tryCatch(rb$call(module, fun, ...),
                  error = function(e) cnnspec_stop(module, ".", fun, "() failed: ", py_reason(e)))
  if (!isTRUE(res$ok)) cnnspec_stop(res$error)
  res$value
}

# A function of the bridge module itself.
rb_call <- function(fun, ...) py_call("cnnspec.interop.rbridge", fun, ...)

# Stop with one line unless the Python module and attribute exist (a light install has no keras).
require_py <- function(module, attr, what) {
  cnnspec_python()
  if (module %in% c("keras", "cnnspec.keras.training", "cnnspec.keras.export") && !isTRUE(.cnnspec$keras)) {
    if (!isTRUE(rb_call("has_module", "keras")))
      cnnspec_stop(what, " needs the Python module keras, which this cnnspec environment does not have: ",
                   "run scripts/setup.sh in the cnnspec repository, or point CNNSPEC_PYTHON at an environment ",
                   "with cnnspec's training extra")
    .cnnspec$keras <- rb_call("keras_ready")
  }
  if (!isTRUE(rb_call("has_module", module)))
    cnnspec_stop(what, " needs the Python module ", module, ", which this cnnspec environment does not have: ",
                 "run scripts/setup.sh in the cnnspec repository, or point CNNSPEC_PYTHON at an environment ",
                 "with cnnspec's training extra")
  m <- tryCatch(reticulate::import(module), error = function(e)
    cnnspec_stop("cannot import ", module, ": ", py_reason(e)))
  if (!reticulate::py_has_attr(m, attr))
    cnnspec_stop(what, " needs ", module, ".", attr, "(), which this cnnspec version does not define")
  invisible(m)
}

as_int_or_null <- function(x, what) {
  if (is.null(x)) return(NULL)
  if (!is.numeric(x) || length(x) != 1 || is.na(x) || x != round(x))
    cnnspec_stop(what, " must be a whole number, got ", deparse(x))
  as.integer(x)
}

as_num_or_null <- function(x, what) {
  if (is.null(x)) return(NULL)
  if (!is.numeric(x) || length(x) != 1 || !is.finite(x)) cnnspec_stop(what, " must be one number, got ", deparse(x))
  as.numeric(x)
}

# An R array as a NumPy array with the same indexing (x[i, j, k] is x[i-1, j-1, k-1] in Python).
as_np <- function(x, what = "x") {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (is.logical(x)) storage.mode(x) <- "integer"
  if (!is.numeric(x)) cnnspec_stop(what, " must be a numeric array (rows first), got ", class(x)[1])
  if (is.null(dim(x))) x <- array(x, dim = length(x))
  if (anyNA(x)) {  # NA as NaN (a plain float, refused by the Python side with a clear message)
    storage.mode(x) <- "double"
    x[is.na(x)] <- NaN
  }
  reticulate::np_array(x, dtype = "float32")
}
