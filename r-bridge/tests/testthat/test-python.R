# A fresh R process each: reticulate starts Python once per session.
run_fresh <- function(code, env) {
  lib <- paste(.libPaths(), collapse = .Platform$path.sep)
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", "-e", shQuote(code)),
                                  stdout = TRUE, stderr = TRUE, env = c(paste0("R_LIBS=", lib), env)))
  paste(out, collapse = "\n")
}

test_that("a missing Python says to set CNNSPEC_PYTHON or run the set-up, in one line", {
  out <- run_fresh('library(cnnspec); r <- cnnspec_available(); cat("AVAILABLE", r, attr(r, "reason"), "\\n")',
                   "CNNSPEC_PYTHON=/nonexistent/bin/python")
  expect_match(out, "AVAILABLE FALSE CNNSPEC_PYTHON is /nonexistent/bin/python, which does not exist", fixed = TRUE)
  expect_match(out, "set CNNSPEC_PYTHON to the Python of a cnnspec environment", fixed = TRUE)
  expect_match(out, "scripts/setup.sh", fixed = TRUE)
  expect_false(grepl("pip install", out, fixed = TRUE))
  out <- run_fresh('library(cnnspec); cnnspec_check("x.yaml")', "CNNSPEC_PYTHON=/nonexistent/bin/python")
  expect_match(out, "Error: CNNSPEC_PYTHON is /nonexistent/bin/python, which does not exist", fixed = TRUE)
})
