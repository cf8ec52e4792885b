#' Check a spec: every row's output shape and parameters, compared with the printed table.
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
                           trainable = num(r$trainable))
  class(df) <- c("cnnspec_check", "data.frame")
  df
}

human_bytes <- function(n) {
  units <- c("B", "KB", "MB", "GB", "TB")
  i <- 1
  while (n >= 1024 && i < length(units)) { n <- n / 1024; i <- i + 1 }
  sprintf("%.2f %s", n, units[i])
}

commas <- function(n) formatC(n, format = "d", big.mark = ",")

#' @export
format.cnnspec_check <- function(x, ...) {
  spec <- attr(x, "spec")
  tot <- attr(x, "totals")
  rows <- as.data.frame(unclass(x), stringsAsFactors = FALSE)
  layer <- sprintf("%s (%s)", rows$name, rows$type)
  cols <- list(c("Layer (type)", layer), c("Output Shape", rows$output),
               c("Param #", commas(rows$params)))
  right <- c(FALSE, FALSE, TRUE)
  if (isTRUE(spec$has_expect)) {
    cols <- c(cols, list(c("Printed shape", ifelse(is.na(rows$expected_output), "", rows$expected_output)),
                         c("Printed #", ifelse(is.na(rows$expected_params), "", commas(rows$expected_params))),
                         c("", ifelse(rows$ok, "ok", "MISMATCH"))))
    right <- c(right, FALSE, TRUE, FALSE)
  }
  widths <- vapply(cols, function(cc) max(nchar(cc)), 0)
  pad <- function(s, w, r) formatC(s, width = if (r) w else -w)
  lines <- vapply(seq_along(cols[[1]]), function(i)
    paste(mapply(function(cc, w, r) pad(cc[i], w, r), cols, widths, right), collapse = "  "), "")
  rule <- strrep("-", max(nchar(lines)))
  title <- sprintf("Model: \"%s\"%s", spec$label, if (nzchar(spec$source)) paste0("  ", spec$source) else "")
  out <- c(title, rule, lines[1], rule, lines[-1], rule,
           sprintf("Total params: %s (%s)", commas(tot$total), human_bytes(tot$total * 4)),
           sprintf("Trainable params: %s (%s)", commas(tot$trainable), human_bytes(tot$trainable * 4)),
           sprintf("Non-trainable params: %s (%s)", commas(tot$non_trainable), human_bytes(tot$non_trainable * 4)))
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
