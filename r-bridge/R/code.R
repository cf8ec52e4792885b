#' A spec as R or Python Keras code, and Keras code as a spec
#'
#' `cnnspec_code()` is `cnnspec code`: the spec as Keras code that builds the same model, in R
#' (for the keras3 package, or the older keras 2.x with `target = "keras"`) or Python (Keras 3),
#' with `compile()` and `fit()` from the spec's `train:` section. A spec that fails
#' [cnnspec_check()] is refused unless `force = TRUE`. `cnnspec_import()` is `cnnspec import`: it
#' reads R keras/keras3 or Python Keras model code (without running it) and gives the spec YAML.
#'
#' @param path A spec file (`"FILE#VARIANT"` picks a variant).
#' @param lang `"r"` or `"python"` (`cnnspec_import()`: `NULL` guesses from the file's extension).
#' @param target For R code: `"keras3"` (Keras 3) or `"keras"` (the 2.x package; no `keras_input()`).
#' @param force Write the code even when the spec fails check.
#' @param file For `cnnspec_import()`: an `.R` or `.py` file defining a Keras model.
#' @param name For `cnnspec_import()`: the spec's name (default: the model's or the file's).
#' @param out A file to write the text to (`NULL`: just return it).
#' @return The code or YAML as one string of class `cnnspec_text` (it prints as is); invisibly when
#'   written to `out`.
#' @export
#' @examplesIf cnnspec_available()
#' spec <- system.file("specs", "table6.yaml", package = "cnnspec")
#' code <- cnnspec_code(spec)
#' code
#' r_file <- tempfile(fileext = ".R")
#' writeLines(code, r_file)
#' cnnspec_import(r_file, name = "table6_again")
cnnspec_code <- function(path, lang = c("r", "python"), target = c("keras3", "keras"), force = FALSE,
                         out = NULL) {
  lang <- match.arg(lang)
  target <- match.arg(target)
  if (!is.character(path) || length(path) != 1) cnnspec_stop("path must be one spec file name")
  text_result(rb_call("code", path, lang, target = target, force = isTRUE(force)), out)
}

#' @rdname cnnspec_code
#' @export
cnnspec_import <- function(file, name = NULL, lang = NULL, out = NULL) {
  if (!is.character(file) || length(file) != 1) cnnspec_stop("file must be one file name")
  if (!is.null(lang)) lang <- match.arg(lang, c("r", "python"))
  text_result(rb_call("import_code", file, name = name, lang = lang), out)
}

text_result <- function(text, out) {
  text <- structure(as.character(text), class = "cnnspec_text")
  if (is.null(out)) return(text)
  tmp <- tempfile(tmpdir = dirname(out))
  ok <- tryCatch({ writeLines(unclass(text), tmp, sep = ""); file.rename(tmp, out) },
                 error = function(e) FALSE, warning = function(w) FALSE)
  if (!isTRUE(ok)) { unlink(tmp); cnnspec_stop(out, ": cannot write") }
  invisible(text)
}

#' @export
print.cnnspec_text <- function(x, ...) {
  cat(unclass(x), if (!endsWith(x, "\n")) "\n", sep = "")
  invisible(x)
}
