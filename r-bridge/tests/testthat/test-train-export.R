test_that("train a run, plot it, export it, load it back and predict on an R array", {
  skip_if_no_keras()
  run <- cnnspec_train(spec("table6.yaml"), data = "sample", epochs = 1, batch_size = 64, limit = 120,
                       out = tempfile("run-"))
  expect_s3_class(run, "cnnspec_run")
  expect_equal(nrow(run$history), 1)
  expect_true(is.numeric(run$metrics$accuracy))
  expect_output(print(run), "cnnspec run")
  png(tempfile(fileext = ".png"))
  expect_silent(plot(run))
  dev.off()
  # the run's config records the spec's train section (adadelta, learning rate 1.0)
  conf <- jsonlite::fromJSON(file.path(run$run_dir, "config.json"))
  expect_equal(conf$resolved$optimizer$name, "adadelta")
  expect_equal(conf$resolved$optimizer$learning_rate, 1)
  # load the trained Keras model back: class names and scaling from the run
  m <- cnnspec_load(run)
  expect_s3_class(m, "cnnspec_model")
  expect_true(any(grepl("Classes: T-shirt/top, Trouser", capture.output(print(m)), fixed = TRUE)))
  x <- array(sample(0:255, 3 * 28 * 28, replace = TRUE), dim = c(3, 28, 28))   # raw pixels, no channel
  pk <- predict(m, x)
  expect_equal(colnames(pk)[1:2], c("T-shirt/top", "Trouser"))
  # export to ONNX and predict the same without TensorFlow
  onnx <- cnnspec_export(run, tempfile(fileext = ".onnx"))
  expect_true(file.exists(onnx))
  o <- cnnspec_load(onnx)
  expect_s3_class(o, "cnnspec_onnx")
  expect_output(print(o), "Classes: T-shirt/top")
  po <- predict(o, x)
  expect_equal(po, pk, tolerance = 1e-4)
  expect_equal(cnnspec_predict(onnx, x, type = "class"), predict(m, x, type = "class"))
})

test_that("train on R arrays: factor labels become the run's class names", {
  skip_if_no_keras()
  x <- fake_images(40, channel = FALSE)
  lv <- sprintf("c%d", 0:9)
  y <- factor(lv[rep(1:10, 4)], levels = lv)
  run <- cnnspec_train(spec("table3.yaml"), data = list(x[1:30, , ], y[1:30]), test_data = list(x[31:40, , ], y[31:40]),
                       epochs = 2, batch_size = 10, out = tempfile("run-"))
  expect_equal(nrow(run$history), 2)
  expect_equal(run$metrics$class_names, lv)
  expect_equal(run$metrics$n, 10)
  expect_equal(levels(predict(cnnspec_load(run$run_dir), x[1:2, , ], type = "class")), lv)
  expect_error(cnnspec_train(spec("table3.yaml"), data = list(x, y)), "test_data", class = "cnnspec_error")
  # validation_data = list(x, y) for a run on arrays: the history has validation columns
  run <- cnnspec_train(spec("table3.yaml"), data = list(x[1:30, , ], y[1:30]), test_data = list(x[31:40, , ], y[31:40]),
                       validation_data = list(x[31:35, , ], y[31:35]), epochs = 1, batch_size = 10,
                       out = tempfile("run-"))
  expect_true(all(c("val_loss", "val_accuracy") %in% names(run$history)))
  expect_match(jsonlite::fromJSON(file.path(run$run_dir, "config.json"))$train$validation, "^npz:.*-validation\\.npz$")
})

test_that("train/export/predict/load give one-line errors on bad input", {
  skip_if_no_python()
  expect_error(cnnspec_predict("model.keras", "a.png"), "takes an .onnx file", class = "cnnspec_error")
  expect_error(cnnspec_predict(file.path(tempdir(), "none.onnx"), "a.png"), "no such file", class = "cnnspec_error")
  expect_error(cnnspec_run(file.path(tempdir(), "no-run")), "no such run directory", class = "cnnspec_error")
  expect_error(cnnspec_load(file.path(tempdir(), "no-run")), "no such file or run directory", class = "cnnspec_error")
  expect_error(cnnspec_train(spec("table6.yaml"), epochs = 1.5), "whole number", class = "cnnspec_error")
})

test_that("a run directory reads back and plots without Python", {
  d <- tempfile("run-")
  dir.create(d)
  writeLines(c("epoch,accuracy,loss,val_accuracy,val_loss", "1,0.5,1.2,0.55,1.1", "2,0.7,0.8,0.68,0.9"),
             file.path(d, "history.csv"))
  writeLines('{"loss": 0.91, "accuracy": 0.66, "dataset": "sample"}', file.path(d, "metrics.json"))
  run <- cnnspec_run(d)
  expect_equal(run$metrics$accuracy, 0.66)
  expect_output(print(run), "accuracy 0.66")
  f <- tempfile(fileext = ".png")
  png(f)
  plot(run)
  dev.off()
  expect_gt(file.size(f), 1000)
})

test_that("cnnspec_code and cnnspec_import round-trip a spec", {
  skip_if_no_python()
  code <- cnnspec_code(spec("table6.yaml"))
  expect_s3_class(code, "cnnspec_text")
  expect_match(code, "layer_conv_2d")
  expect_match(code, "optimizer_adadelta(learning_rate = 1.0)", fixed = TRUE)   # the spec's train section
  expect_match(cnnspec_code(spec("table6.yaml"), "python"), "keras.layers.Conv2D")
  expect_match(cnnspec_code(spec("table3.yaml"), target = "keras"), "library(keras)\n", fixed = TRUE)
  expect_error(cnnspec_code(spec("lenet5.yaml")), "the spec fails check", class = "cnnspec_error")
  expect_match(cnnspec_code(spec("lenet5.yaml"), force = TRUE), "layer_conv_2d")
  f <- tempfile(fileext = ".R")
  writeLines(code, f)
  yaml <- cnnspec_import(f, name = "again", out = tempfile(fileext = ".yaml"))
  expect_match(yaml, "name: again")
  back <- tempfile(fileext = ".yaml")
  cnnspec_import(f, out = back)
  expect_equal(attr(cnnspec_check(back), "totals")$total, 1199882)
})
