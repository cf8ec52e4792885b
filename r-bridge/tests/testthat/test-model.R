test_that("the model prints and summarises as the check's table, compiled from the spec's train section", {
  skip_if_no_keras()
  m <- cnnspec_model(spec("table6.yaml"))
  expect_s3_class(m, "cnnspec_model")
  x <- cnnspec_check(spec("table6.yaml"))
  expect_equal(m$count_params(), attr(x, "totals")$total)
  out <- capture.output(print(m))
  expect_true(any(grepl("Total params: 1,199,882", out, fixed = TRUE)))
  expect_true(any(grepl("^conv2d \\(Conv2D\\) +\\(None, 26, 26, 32\\) +320$", out)))
  # train: optimizer adadelta with learning rate 1.0 (Keras 3's own default would be 0.001)
  expect_true(any(grepl("Compiled: optimizer adadelta (learning rate 1), loss sparse_categorical_crossentropy",
                        out, fixed = TRUE)))
  expect_equal(m$keras$optimizer$learning_rate$numpy(), 1)
  expect_output(s <- summary(m), "Total params")
  expect_equal(s$name, x$name)
  expect_equal(s$params, x$params)
})

test_that("R arguments override the train section: optimizer, learning rate, loss", {
  skip_if_no_keras()
  m <- cnnspec_model(spec("table6.yaml"), learning_rate = 0.25)
  expect_match(class(m$keras$optimizer)[1], "Adadelta")
  expect_equal(m$keras$optimizer$learning_rate$numpy(), 0.25)
  m <- cnnspec_model(spec("table6.yaml"), optimizer = "sgd", learning_rate = 0.05)
  expect_match(class(m$keras$optimizer)[1], "SGD")
  expect_equal(m$keras$optimizer$learning_rate$numpy(), 0.05, tolerance = 1e-6)
  m <- cnnspec_model(spec("table3.yaml"), optimizer = list(name = "sgd", momentum = 0.9),
                     loss = "categorical_crossentropy")
  expect_equal(m$keras$optimizer$momentum, 0.9, tolerance = 1e-6)
  expect_true(any(grepl("loss categorical_crossentropy", capture.output(print(m)))))
  expect_error(cnnspec_model(spec("table3.yaml"), optimizer = "adamm"), "train.optimizer: Input should be", class = "cnnspec_error")
})

test_that("fit: factor labels, no channel dimension, validation_data list; a classed history", {
  skip_if_no_keras()
  m <- cnnspec_model(spec("table3.yaml"))
  x <- fake_images(24, channel = FALSE)
  lv <- sprintf("class%02d", 0:9)
  y <- factor(lv[rep(1:10, length.out = 24)], levels = lv)
  h <- cnnspec_fit(m, x, y, epochs = 2, batch_size = 8, validation_data = list(x[1:6, , ], y[1:6]))
  expect_s3_class(h, "cnnspec_history")
  expect_equal(names(h$metrics), c("accuracy", "loss", "val_accuracy", "val_loss"))
  expect_length(h$metrics$loss, 2)
  expect_equal(h$params$epochs, 2)
  expect_output(print(h), "Final epoch")
  df <- as.data.frame(h)
  expect_equal(nrow(df), 8)
  expect_equal(levels(df$data), c("training", "validation"))
  f <- tempfile(fileext = ".png")
  png(f)
  plot(h)
  dev.off()
  expect_gt(file.size(f), 1000)
  # the factor's levels became the model's classes
  expect_true(any(grepl("Classes: class00, class01", capture.output(print(m)), fixed = TRUE)))
  p <- predict(m, x[1:3, , ], type = "class")
  expect_s3_class(p, "factor")
  expect_equal(levels(p), lv)
  expect_error(cnnspec_fit(m, x, y, validation_data = x), "validation_data must be list\\(x, y\\)",
               class = "cnnspec_error")
})

test_that("fit and evaluate: one-hot and 1-based labels; evaluate is a named vector", {
  skip_if_no_keras()
  m <- cnnspec_model(spec("table3.yaml"))
  x <- fake_images(20)
  ids <- rep(0:9, 2)
  onehot <- diag(10)[ids + 1, ]
  h <- fit(m, x, onehot, epochs = 1, batch_size = 10)
  expect_s3_class(h, "cnnspec_history")
  e1 <- cnnspec_evaluate(m, x, onehot)
  expect_type(e1, "double")
  expect_equal(names(e1), c("accuracy", "loss"))
  # the same labels 1-based (1..10) and 0-based give the same evaluation
  expect_equal(evaluate(m, x, ids + 1), e1, tolerance = 1e-5)
  expect_equal(cnnspec_evaluate(m, x, ids), e1, tolerance = 1e-5)
  expect_error(cnnspec_fit(m, x, ids[-1]), "19 labels but x has 20 rows", class = "cnnspec_error")
  expect_error(cnnspec_fit(m, x, ids, epochs = 0), "epochs and batch_size must be at least 1", class = "cnnspec_error")
  expect_error(cnnspec_fit(m, x, ids, validation_split = 1.5), "validation_split must be within", class = "cnnspec_error")
  xna <- x
  xna[1] <- NA
  expect_error(cnnspec_fit(m, xna, ids), "x contains NaN", class = "cnnspec_error")
  expect_error(cnnspec_fit(m, x, ids + 5), "labels 5..14", class = "cnnspec_error")
  expect_error(cnnspec_fit(m, fake_images(4)[, 1:27, , , drop = FALSE], 0:3),
               "x has dimensions 4x27x28x1; the model takes N x 28x28x1", class = "cnnspec_error")
})

test_that("a categorical-loss model takes the same labels (one-hot made on the Python side)", {
  skip_if_no_keras()
  m <- cnnspec_model(spec("table3.yaml"), loss = "categorical_crossentropy")
  h <- cnnspec_fit(m, fake_images(10), 0:9, epochs = 1, batch_size = 5)
  expect_length(h$metrics$loss, 1)
})

test_that("predict on an R array gives a probability matrix", {
  skip_if_no_keras()
  m <- cnnspec_model(spec("table3.yaml"))
  p <- predict(m, fake_images(4, channel = FALSE))
  expect_equal(dim(p), c(4, 10))
  expect_equal(rowSums(p), rep(1, 4), tolerance = 1e-5)
  expect_equal(colnames(p), as.character(0:9))
  expect_equal(cnnspec_predict(m, fake_images(4, channel = FALSE)), p)
})

test_that("a 1D spec with a sigmoid output compiles for binary labels", {
  skip_if_no_keras()
  m <- cnnspec_model(spec("table5.yaml"))
  x <- array(runif(8 * 200), dim = c(8, 200))
  h <- cnnspec_fit(m, x, rep(c(FALSE, TRUE), 4), epochs = 1, batch_size = 4)
  expect_length(h$metrics$loss, 1)
  expect_equal(levels(predict(m, x, type = "class")), c("0", "1"))
})

test_that("an error from inside Python keeps its useful line", {
  skip_if_no_keras()
  err <- tryCatch(cnnspec:::py_call("numpy", "reshape", 1:6, c(4L, 4L)), cnnspec_error = function(e) e)
  expect_match(conditionMessage(err), "^ValueError: cannot reshape array of size 6 into shape \\(4,4\\)$")
})
