#' Check a spec against the summary table the paper printed
#'
#' The R side of `cnnspec check`: every row's output shape and parameter count, computed in pure
#' Python (no TensorFlow) and compared with what the paper printed (the rows' `expect:`). Printing
#' the result shows the table as Keras's `summary()` prints it, the mismatches with their likely
#' cause, and a verdict.
#'
#' A spec that is not valid (an unknown option, an impossible shape) is an error of class
#' `cnnspec_error` whose message is one line naming file, line and field.
#'
#' @param path A spec file (YAML or JSON); `"FILE#VARIANT"` picks one variant of a family.
#' @return A data.frame of class `cnnspec_check`, one row per layer: `name`, `type`, `output`,
#'   `params`, `expected_output`, `expected_params`, `ok`. Attributes: `totals` (list of `total`,
#'   `trainable`, `non_trainable`), `mismatches` (a data.frame: `name`, `field`, `expected`,
#'   `computed`, `line`, `hint`, `message`) and `spec` (label, file, source, input shape, and the
#'   names of the model's `inputs` and `outputs`).
#' @seealso [cnnspec_model()] builds the same spec as a Keras model.
#' @export
#' @examplesIf cnnspec_available()
#' tab <- cnnspec_check(system.file("specs", "table6.yaml", package = "cnnspec"))
#' tab
#' all(tab$ok)
#' attr(tab, "totals")$total
#'
#' # a paper with misprints: LeNet-5's table counted the pooling layers' weights
#' lenet <- cnnspec_check(system.file("specs", "lenet5.yaml", package = "cnnspec"))
#' attr(lenet, "mismatches")[, c("name", "field", "expected", "computed")]
cnnspec_check <- function(path) {
  if (!is.character(path) || length(path) != 1) cnnspec_stop("path must be one spec file name")
  res <- py_call("cnnspec.interop.rbridge", "check_table", path)
  r <- res$rows
  chr <- function(x) { x <- as.character(unlist(x)); x[!nzchar(x)] <- NA_character_; x }
  num <- function(x) { x <- as.numeric(unlist(x)); x[is.nan(x)] <- NA_real_; x }
  df <- data.frame(name = chr(r$name), type = chr(r$type), output = chr(r$output),
                   params = num(r$params), expected_output = chr(r$expected_output),
                   expected_params = num(r$expected_params), ok = as.logical(unlist(r$ok)),
                   stringsAsFactors = FALSE)
  m <- res$mismatches
  mism <- data.frame(name = chr(m$name), field = chr(m$field), expected = chr(m$expected),
                     computed = chr(m$computed), line = as.integer(unlist(m$line)),
                     hint = as.character(unlist(m$hint)), message = as.character(unlist(m$message)),
                     stringsAsFactors = FALSE)
  attr(df, "totals") <- list(total = as.numeric(res$totals$total),
                             trainable = as.numeric(res$totals$trainable),
                             non_trainable = as.numeric(res$totals$non_trainable))
  attr(df, "mismatches") <- mism
  attr(df, "spec") <- list(label = res$label, file = res$file, source = res$source, ok = res$ok,
                           has_expect = res$has_expect, input_shape = unlist(res$input_shape),
                           trainable = num(r$trainable), inputs = unlist(res$inputs),
                           outputs = unlist(res$outputs))
  class(df) <- c("cnnspec_check", "data.frame")
  df
}


#' @export
format.cnnspec_check <- function(x, ...) {
  spec <- attr(x, "spec")
  rows <- as.data.frame(unclass(x), stringsAsFactors = FALSE)
  extra <- NULL
  if (isTRUE(spec$has_expect))
    extra <- list(list("Printed shape", ifelse(is.na(rows$expected_output), "", rows$expected_output), FALSE),
                  list("Printed #", ifelse(is.na(rows$expected_params), "", commas(rows$expected_params)), TRUE),
                  list("", ifelse(rows$ok, "ok", "MISMATCH"), FALSE))
  out <- summary_table(spec$label, spec$source, rows, attr(x, "totals"), extra)
  mism <- attr(x, "mismatches")
  out <- c(out, mism$message)
  verdict <- if (!isTRUE(spec$has_expect)) "valid (no printed values to compare)" else if (nrow(mism) == 0)
    "OK: every printed value agrees" else sprintf("%d mismatch(es)", nrow(mism))
  c(out, sprintf("%s: %s", spec$label, verdict))
}

#' @export
print.cnnspec_check <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

human_bytes <- function(n) {
  units <- c("B", "KB", "MB", "GB", "TB")
  i <- 1
  while (n >= 1024 && i < length(units)) { n <- n / 1024; i <- i + 1 }
  sprintf("%.2f %s", n, units[i])
}

commas <- function(n) formatC(n, format = "d", big.mark = ",")

# The summary table as Keras prints it: "Layer (type)", "Output Shape", "Param #" (plus extra columns,
# each list(header, values, right-aligned)), then the totals.
summary_table <- function(label, source, rows, totals, extra = NULL) {
  layer <- sprintf("%s (%s)", rows$name, rows$type)
  cols <- c(list(list("Layer (type)", layer, FALSE), list("Output Shape", rows$output, FALSE),
                 list("Param #", commas(rows$params), TRUE)), extra)
  cells <- lapply(cols, function(cc) c(cc[[1]], cc[[2]]))
  widths <- vapply(cells, function(cc) max(nchar(cc)), 0)
  right <- vapply(cols, function(cc) cc[[3]], TRUE)
  pad <- function(s, w, r) formatC(s, width = if (r) w else -w)
  lines <- vapply(seq_along(cells[[1]]), function(i)
    sub("\\s+$", "", paste(mapply(function(cc, w, r) pad(cc[i], w, r), cells, widths, right), collapse = "  ")), "")
  rule <- strrep("-", max(nchar(lines)))
  title <- sprintf("Model: \"%s\"%s", label, if (!is.null(source) && nzchar(source)) paste0("  ", source) else "")
  c(title, rule, lines[1], rule, lines[-1], rule,
    sprintf("Total params: %s (%s)", commas(totals$total), human_bytes(totals$total * 4)),
    sprintf("Trainable params: %s (%s)", commas(totals$trainable), human_bytes(totals$trainable * 4)),
    sprintf("Non-trainable params: %s (%s)", commas(totals$non_trainable), human_bytes(totals$non_trainable * 4)))
}
