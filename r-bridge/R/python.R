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
  lines <- trimws(lines[nzchar(trimws(lines))])
  lines <- lines[!grepl("py_last_error|^Detailed traceback|^Run `reticulate", lines)]
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

.fix <- paste0("set Sys.setenv(CNNSPEC_PYTHON = \"/path/to/cnnspec/.venv/bin/python\") before loading ",
               "cnnspec (a fresh R session), and run `pip install -e .` in the cnnspec repo ",
               "(or set CNNSPEC_PYTHONPATH to the repo)")

#' The Python side of cnnspec (the 'cnnspec.interop.rbridge' module), started once per R session.
cnnspec_python <- function() {
  if (!is.null(.cnnspec$rb)) return(.cnnspec$rb)
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
    cnnspec_stop("Python ", python, " (", choice$source, ") has no numpy: ", .fix))
  npv <- as.character(np$`__version__`)
  if (as.integer(strsplit(npv, ".", fixed = TRUE)[[1]][1]) >= 2)
    cnnspec_stop("Python ", python, " has numpy ", npv, ", but reticulate ", utils::packageVersion("reticulate"),
                 " cannot convert NumPy 2 arrays: run `pip install 'numpy<2' 'ml_dtypes<0.6'` in that environment")
  rb <- tryCatch(reticulate::import("cnnspec.interop.rbridge"), error = function(e)
    cnnspec_stop("cannot import the Python package 'cnnspec' with ", python, " (", choice$source,
                 "; tried option cnnspec.python, CNNSPEC_PYTHON, RETICULATE_PYTHON, then reticulate's default): ",
                 py_reason(e), "; ", .fix))
  .cnnspec$rb <- rb
  rb
}

# Call module.function(...) on the Python side; a CnnspecError becomes a cnnspec_error condition.
py_call <- function(module, fun, ...) {
  rb <- cnnspec_python()
  res <- tryCatch(rb$call(module, fun, ...),
                  error = function(e) cnnspec_stop(module, ".", fun, "() failed: ", py_reason(e)))
  if (!isTRUE(res$ok)) cnnspec_stop(res$error)
  res$value
}

# Stop with one line unless the Python module and attribute exist (a light install has no cnnspec.keras.training).
require_py <- function(module, attr, what) {
  cnnspec_python()
  if (!reticulate::py_module_available(module))
    cnnspec_stop(what, " needs the Python module ", module, ", which this cnnspec installation does not have: ",
                 "update the cnnspec repo and run `pip install -e '.[train]'`")
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
