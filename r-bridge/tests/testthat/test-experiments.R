test_that("cnnspec_sweep() trains a small grid and returns its table; a second call trains nothing", {
  skip_if_no_keras()
  sweep <- tempfile(fileext = ".yaml")
  writeLines(c(paste0("spec: ", spec("table3.yaml")),
               "data: {name: sample, limit: 100}",
               "train: {epochs: 1, batch_size: 50, validation_split: 0.2}",
               "grid:",
               "  train.learning_rate: [0.001, 0.01]"), sweep)
  out <- tempfile("sweep-")
  tab <- cnnspec_sweep(sweep, out, max_concurrent = 2)
  expect_s3_class(tab, "data.frame")
  expect_equal(nrow(tab), 2)
  expect_equal(sort(tab[["train.learning_rate"]]), c(0.001, 0.01))
  expect_true(all(tab$status == "finished"))
  expect_true(is.numeric(tab$test_accuracy) && all(tab$test_accuracy >= 0 & tab$test_accuracy <= 1))
  expect_true(all(file.exists(file.path(tab$run_dir, "model.keras"))))
  expect_true(attr(tab, "best") %in% tab$trial)
  stamps <- file.mtime(file.path(tab$run_dir, "metrics.json"))
  again <- cnnspec_sweep(sweep, out)
  expect_equal(again$test_accuracy, tab$test_accuracy)
  expect_equal(file.mtime(file.path(tab$run_dir, "metrics.json")), stamps)
  # compare: the sweep plus one of its runs, sorted
  cmp <- cnnspec_compare(c(out, tab$run_dir[1]), sort = "test_accuracy")
  expect_equal(nrow(cmp), 3)
  expect_false(is.unsorted(rev(cmp$test_accuracy)))
  expect_true(is.na(cmp$reason[1]))
})

test_that("bad sweep files and paths are one-line cnnspec errors", {
  skip_if_no_keras()
  sweep <- tempfile(fileext = ".yaml")
  writeLines(c(paste0("spec: ", spec("table3.yaml")), "grid:", "  train.learnig_rate: [0.1]"), sweep)
  expect_error(cnnspec_sweep(sweep, tempfile()), "did you mean 'learning_rate'", class = "cnnspec_error")
  expect_error(cnnspec_compare(tempfile("nowhere-")), "no such run or sweep directory", class = "cnnspec_error")
})
