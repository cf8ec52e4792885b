# The label rules are pure R: these run without Python.
test_that("factor levels become classes and class names", {
  y <- factor(c("dog", "cat", "dog", "bird"), levels = c("bird", "cat", "dog"))
  l <- cnnspec_class_ids(y, 3)
  expect_equal(l$ids, c(2L, 1L, 2L, 0L))
  expect_equal(l$class_names, c("bird", "cat", "dog"))
  expect_error(cnnspec_class_ids(y, 10), "3 levels but the model has 10 classes", class = "cnnspec_error")
  # a model that knows its classes matches by name
  expect_equal(cnnspec_class_ids(c("dog", "bird"), 3, class_names = c("bird", "cat", "dog"))$ids, c(2L, 0L))
  expect_error(cnnspec_class_ids("cow", 3, class_names = c("bird", "cat", "dog")), "'cow'", class = "cnnspec_error")
})

test_that("one-hot matrices give their column index", {
  m <- diag(4)[c(3, 1, 4), ]
  expect_equal(cnnspec_class_ids(m, 4)$ids, c(2L, 0L, 3L))
  colnames(m) <- c("a", "b", "c", "d")
  expect_equal(cnnspec_class_ids(m, 4)$class_names, c("a", "b", "c", "d"))
  expect_error(cnnspec_class_ids(m * 0.5, 4), "not one-hot", class = "cnnspec_error")
  expect_error(cnnspec_class_ids(m[, 1:3], 4), "3 columns", class = "cnnspec_error")
})

test_that("integers: 0-based unless they are 1..K with K present", {
  expect_equal(cnnspec_class_ids(c(0, 9, 3), 10)$ids, c(0L, 9L, 3L))
  expect_equal(cnnspec_class_ids(c(1L, 10L, 4L), 10)$ids, c(0L, 9L, 3L))
  expect_equal(cnnspec_class_ids(c(1, 5), 10)$ids, c(1L, 5L))            # no K: read as 0-based
  expect_equal(cnnspec_class_ids(c(1, 5), 10, label_base = 1)$ids, c(0L, 4L))
  expect_error(cnnspec_class_ids(c(0, 10), 10), "0..9 \\(0-based, as Keras\\) or 1..10", class = "cnnspec_error")
  expect_error(cnnspec_class_ids(c(0.5, 1), 10), "not whole numbers", class = "cnnspec_error")
  expect_error(cnnspec_class_ids(c(1, NA), 10), "NA", class = "cnnspec_error")
  expect_error(cnnspec_class_ids(integer(), 10), "y has no labels", class = "cnnspec_error")
  expect_error(cnnspec_class_ids(list(1, 2), 10), "got a list", class = "cnnspec_error")
  expect_equal(cnnspec_class_ids(data.frame(label = c(3, 1)), 10)$ids, c(3L, 1L))
  expect_equal(cnnspec_class_ids(matrix(c(2, 10), ncol = 1), 10)$ids, c(1L, 9L))
  expect_error(cnnspec_class_ids(c(0, 3), 10, label_base = 1), "labels 0..3", class = "cnnspec_error")
  # binary (one sigmoid unit): 0/1, 1/2 or logical
  expect_equal(cnnspec_class_ids(c(1, 2, 2), 1)$ids, c(0L, 1L, 1L))
  expect_equal(cnnspec_class_ids(c(TRUE, FALSE), 1)$ids, c(1L, 0L))
})
