#' Class labels as R users hold them
#'
#' [cnnspec_fit()], [cnnspec_evaluate()] and [cnnspec_train()] take labels in any of these forms and
#' turn them into the 0-based class ids Keras uses. `K` is the number of classes: the units of the
#' model's last layer (2 for a one-unit sigmoid output).
#'
#' * **factor** (or character): the levels are the classes, in order, and become the model's class
#'   names (`predict(type = "class")` returns a factor with them). There must be exactly `K` levels.
#'   When the model already has class names (loaded from a run, or fitted with a factor before),
#'   values are matched by name instead.
#' * **one-hot matrix**: `K` columns of 0/1 with one 1 per row; the column names, if any, become
#'   the class names.
#' * **integers** (whole numbers, numeric or integer): labels within `0..K-1` are taken as they are
#'   (0-based, as Keras); otherwise labels within `1..K` are taken as 1-based (as R counts) and
#'   shifted down by one. So `1..K` is read as 1-based only when it contains `K` (which no 0-based
#'   label can be) and no 0. Give `label_base = 0` or `1` to say it yourself (for a sample that
#'   lacks the last class, say). Anything else is an error.
#' * **logical**: `FALSE`/`TRUE` are classes 0 and 1.
#'
#' @param y The labels.
#' @param k The number of classes.
#' @param class_names The classes the model already knows (matched by name for factors), or `NULL`.
#' @param label_base `NULL` (the rule above), `0` or `1`.
#' @param what The argument's name, for errors.
#' @return A list: `ids` (integer, 0-based) and `class_names` (character or `NULL`).
#' @name cnnspec_labels
#' @examples
#' cnnspec_class_ids(factor(c("cat", "dog", "cat")), 2)
#' cnnspec_class_ids(c(1, 3, 2), 3)          # contains K = 3 and no 0: 1-based
#' cnnspec_class_ids(c(0, 2, 1), 3)          # 0-based
#' cnnspec_class_ids(diag(3)[c(2, 1, 3), ], 3)  # one-hot
NULL

#' @rdname cnnspec_labels
#' @export
cnnspec_class_ids <- function(y, k, class_names = NULL, label_base = NULL, what = "y") {
  k <- max(as.integer(k), 2L)
  if (is.data.frame(y) && ncol(y) == 1) y <- y[[1]]
  if ((is.matrix(y) || is.data.frame(y)) && ncol(y) == 1) y <- as.matrix(y)[, 1]
  if (is.null(y) || !length(y)) cnnspec_stop(what, " has no labels")
  if (is.list(y) && !is.data.frame(y))
    cnnspec_stop(what, " must be a factor, a one-hot matrix or integer class labels, got a list")
  if (is.factor(y) || is.character(y)) return(ids_from_names(y, k, class_names, what))
  if (is.logical(y)) {
    if (anyNA(y)) cnnspec_stop(what, " has NA labels")
    return(list(ids = as.integer(y), class_names = NULL))
  }
  if (is.matrix(y) || is.data.frame(y)) return(ids_from_onehot(as.matrix(y), k, what))
  if (!is.numeric(y)) cnnspec_stop(what, " must be a factor, a one-hot matrix or integer class labels, got ",
                                   class(y)[1])
  if (anyNA(y) || any(!is.finite(y))) cnnspec_stop(what, " has NA or infinite labels")
  if (any(y != round(y))) cnnspec_stop(what, " has labels that are not whole numbers (", y[y != round(y)][1],
                                       "): give class ids, a factor or a one-hot matrix")
  lo <- min(y)
  hi <- max(y)
  base <- if (!is.null(label_base)) {
    if (!label_base %in% c(0, 1)) cnnspec_stop("label_base must be 0 or 1, got ", deparse(label_base))
    label_base
  } else if (lo >= 0 && hi <= k - 1) 0 else if (lo >= 1 && hi <= k) 1 else NA
  if (is.na(base) || lo < base || hi > k - 1 + base)
    cnnspec_stop(what, " has labels ", lo, "..", hi, " but the model has ", k, " classes: give 0..", k - 1,
                 " (0-based, as Keras) or 1..", k, " (1-based, as R), a factor or a one-hot matrix")
  list(ids = as.integer(y - base), class_names = NULL)
}

ids_from_names <- function(y, k, class_names, what) {
  if (anyNA(y)) cnnspec_stop(what, " has NA labels")
  if (!is.null(class_names)) {
    ids <- match(as.character(y), class_names)
    if (anyNA(ids))
      cnnspec_stop(what, " has label '", as.character(y)[is.na(ids)][1], "', which is not one of the model's ",
                   "classes (", paste(utils::head(class_names, 12), collapse = ", "), ")")
    return(list(ids = ids - 1L, class_names = class_names))
  }
  lev <- if (is.factor(y)) levels(y) else sort(unique(y))
  if (length(lev) != k)
    cnnspec_stop(what, " has ", length(lev), " levels but the model has ", k, " classes: the levels are the ",
                 "classes, so give all of them (factor(y, levels = ...))")
  list(ids = match(as.character(y), lev) - 1L, class_names = lev)
}

ids_from_onehot <- function(m, k, what) {
  if (!is.numeric(m)) cnnspec_stop(what, " is a matrix but not numeric")
  if (ncol(m) != k)
    cnnspec_stop(what, " is a matrix with ", ncol(m), " columns but the model has ", k, " classes (one-hot ",
                 "labels need one column per class)")
  if (anyNA(m) || any(m != 0 & m != 1) || any(rowSums(m) != 1))
    cnnspec_stop(what, " is a ", k, "-column matrix but not one-hot (each row needs a single 1 and 0s)")
  list(ids = as.integer(max.col(m, ties.method = "first") - 1L), class_names = colnames(m))
}
