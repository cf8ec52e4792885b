# The spec files the tests use ship with the package (inst/specs), so no repository is needed.
spec <- function(name) {
  f <- system.file("specs", name, package = "cnnspec")
  if (!nzchar(f)) stop("spec ", name, " is not installed with the package")
  f
}

# Skip (not fail) where the Python side is not configured: no CNNSPEC_PYTHON, no cnnspec, no Keras.
skip_if_no_python <- function() {
  ok <- cnnspec_available()
  skip_if_not(isTRUE(ok), paste("cnnspec's Python side is not configured:", attr(ok, "reason")))
}

skip_if_no_keras <- function() {
  skip_if_no_python()
  ok <- cnnspec_available(keras = TRUE)
  skip_if_not(isTRUE(ok), paste("no Keras:", attr(ok, "reason")))
}

# Random images and 0-based labels for a 28 x 28 x 1, 10-class spec.
fake_images <- function(n, channel = TRUE, seed = 1) {
  set.seed(seed)
  array(runif(n * 28 * 28), dim = if (channel) c(n, 28, 28, 1) else c(n, 28, 28))
}
