test_that("the model builds with the check's counts and names", {
  skip_without_module("keras")
  m <- cnnspec_model(spec("table3.yaml"))
  x <- cnnspec_check(spec("table3.yaml"))
  expect_equal(m$count_params(), attr(x, "totals")$total)
  names <- vapply(m$layers, function(l) l$name, "")
  expect_equal(names[names != "input"], x$name)
})

test_that("batch norm's non-trainable weights are counted like check", {
  skip_without_module("keras")
  m <- cnnspec_model(spec("table3_2.yaml"), compile = FALSE)
  expect_equal(m$count_params(), attr(cnnspec_check(spec("table3_2.yaml")), "totals")$total)
})

test_that("$fit and $evaluate run on R arrays for one epoch", {
  skip_without_module("keras")
  set.seed(1)
  m <- cnnspec_model(spec("table6.yaml"))
  x <- array(runif(12 * 28 * 28), dim = c(12, 28, 28, 1))
  y <- sample(0:9, 12, replace = TRUE)
  h <- m$fit(x, reticulate::np_array(as.integer(y)), epochs = 1L, batch_size = 4L, verbose = 0L)
  expect_true(all(c("loss", "accuracy") %in% names(h$history)))
  ev <- m$evaluate(x, reticulate::np_array(as.integer(y)), verbose = 0L)
  expect_length(ev, 2)
  hist <- cnnspec_fit(m, x, y, epochs = 2, batch_size = 6, validation_split = 0.5)
  expect_equal(nrow(hist), 2)
  expect_true(all(c("epoch", "loss", "val_loss") %in% names(hist)))
  expect_error(cnnspec_fit(m, x, y[-1]), "labels", class = "cnnspec_error")
})

test_that("a 1D spec with a sigmoid output compiles for binary labels", {
  skip_without_module("keras")
  m <- cnnspec_model(spec("table5.yaml"))
  x <- array(runif(8 * 200), dim = c(8, 200, 1))
  h <- cnnspec_fit(m, x, rep(c(0, 1), 4), epochs = 1, batch_size = 4)
  expect_equal(nrow(h), 1)
})
