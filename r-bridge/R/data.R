#' A dataset as R arrays
#'
#' The images and labels cnnspec trains on, as keras3's `dataset_fashion_mnist()` gives them:
#' `list(train = list(x, y), test = list(x, y))`, where `x` holds the raw pixels (`N x H x W x C`
#' integers 0-255 for the image datasets) and `y` is a factor whose levels are the class names.
#' `"sample"` is the 500 Fashion-MNIST images (400 train, 100 test) shipped with cnnspec: no download.
#'
#' @param name A dataset name: `"sample"`, `"fashion_mnist"`, `"mnist"`, `"cifar10"`, `"cifar100"`,
#'   `"digits"`, `"npz"` (with `path`), `"folder"` (with `path`).
#' @param limit Keep the first `limit` training and at most `limit` test images.
#' @param path A file or folder for `"npz"` and `"folder"`, or where to look for the others.
#' @return `list(train = list(x, y), test = list(x, y), class_names)`.
#' @export
#' @examplesIf cnnspec_available()
#' d <- cnnspec_dataset("sample")
#' dim(d$train$x)
#' table(d$train$y)
#' image(t(d$train$x[1, 28:1, , 1]), col = grey.colors(256, rev = TRUE), axes = FALSE,
#'       main = as.character(d$train$y[1]))
cnnspec_dataset <- function(name = "sample", limit = NULL, path = NULL) {
  if (!is.character(name) || length(name) != 1) cnnspec_stop("name must be one dataset name")
  d <- rb_call("dataset", name, limit = as_int_or_null(limit, "limit"), path = path)
  cn <- as.character(unlist(d$class_names))
  lab <- function(y) factor(cn[as.integer(y) + 1L], levels = cn)
  list(train = list(x = d$x_train, y = lab(d$y_train)), test = list(x = d$x_test, y = lab(d$y_test)),
       class_names = cn)
}
