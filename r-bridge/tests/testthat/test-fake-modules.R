# The R side of train/export/predict against stand-in Python modules, for installations where the
# real cnnspec.train / cnnspec.export / cnnspec.runtime (other branches) are not there yet.
fake_modules <- '
import importlib.machinery, json, os, sys, types

def _mod(name):
    m = types.ModuleType(name)
    m.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = m
    return m

calls = {}

def train(spec_path, data="sample", out=None, epochs=None, batch_size=None, limit=None, **kw):
    calls["train"] = dict(spec_path=spec_path, data=data, out=out, epochs=epochs, batch_size=batch_size,
                          limit=limit, **kw)
    if spec_path.endswith("bad.yaml"):
        from cnnspec.errors import SpecError
        raise SpecError("bad spec for training", file=spec_path, line=3)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "history.csv"), "w") as fh:
        fh.write("epoch,accuracy,loss,val_accuracy,val_loss\\n1,0.5,1.5,0.6,1.4\\n2,0.6,1.2,0.62,1.3\\n")
    with open(os.path.join(out, "metrics.json"), "w") as fh:
        json.dump({"loss": 1.25, "accuracy": 0.61, "dataset": data}, fh)
    open(os.path.join(out, "model.keras"), "w").close()
    return out

def export(src, out, **kw):
    calls["export"] = (src, out)
    open(out, "w").write("onnx")
    return {"onnx": out}

class OnnxModel:
    def __init__(self, path):
        self.path = path
    def predict_images(self, images, top=5):
        return [[("cat", 0.7), ("dog", 0.2)][:top] for _ in images]

_mod("cnnspec.train").train = train
_mod("cnnspec.export").export = export
_mod("cnnspec.runtime").OnnxModel = OnnxModel
'

test_that("train, run, export and predict wire through to the Python API", {
  cnnspec_python()
  skip_if(reticulate::py_module_available("cnnspec.train"), "the real cnnspec.train is installed")
  main <- reticulate::py_run_string(fake_modules)
  on.exit(reticulate::py_run_string(
    "import sys\nfor m in ('cnnspec.train', 'cnnspec.export', 'cnnspec.runtime'): sys.modules.pop(m, None)"))
  out <- tempfile("run-")
  run <- cnnspec_train(spec("table6.yaml"), data = "fashion_mnist", epochs = 12, batch_size = 128, out = out,
                       validation_split = 0.2)
  call <- main$calls$train
  expect_identical(call$epochs, 12L)
  expect_identical(call$batch_size, 128L)
  expect_null(call$limit)
  expect_equal(call$validation_split, 0.2)
  expect_equal(call$data, "fashion_mnist")
  expect_s3_class(run, "cnnspec_run")
  expect_equal(nrow(run$history), 2)
  expect_equal(run$metrics$accuracy, 0.61)
  expect_output(print(run), "epochs: 2")
  pdf(NULL)
  plot(run)
  dev.off()
  expect_error(cnnspec_train("bad.yaml"), "^bad.yaml:3: bad spec for training$", class = "cnnspec_error")

  onnx <- tempfile(fileext = ".onnx")
  expect_equal(as.character(cnnspec_export(run, onnx)), onnx)
  expect_equal(main$calls$export[[1]], file.path(run$run_dir, "model.keras"))
  img <- tempfile(fileext = ".png")
  writeBin(as.raw(1:10), img)
  p <- cnnspec_predict(onnx, c(img, img), top = 2)
  expect_equal(names(p), c("image", "rank", "class", "probability"))
  expect_equal(nrow(p), 4)
  expect_equal(p$class[1:2], c("cat", "dog"))
})

test_that("without the Python modules the functions stop with one line", {
  cnnspec_python()
  skip_if(reticulate::py_module_available("cnnspec.train"), "the real cnnspec.train is installed")
  err <- tryCatch(cnnspec_train(spec("table6.yaml")), cnnspec_error = function(e) conditionMessage(e))
  expect_match(err, "cnnspec_train() needs the Python module cnnspec.train", fixed = TRUE)
  expect_false(grepl("\n", err))
  onnx <- tempfile(fileext = ".onnx")
  writeLines("x", onnx)
  expect_error(cnnspec_predict(onnx, onnx), "needs the Python module cnnspec.runtime", class = "cnnspec_error")
  expect_error(cnnspec_export(spec("table6.yaml"), onnx), "cnnspec.export", class = "cnnspec_error")
})

test_that("the table6 example runs in quick mode (stand-in training and export)", {
  cnnspec_python()
  skip_if(reticulate::py_module_available("cnnspec.train"), "the real cnnspec.train is installed")
  skip_without_module("keras")
  reticulate::py_run_string(fake_modules)
  on.exit(reticulate::py_run_string(
    "import sys\nfor m in ('cnnspec.train', 'cnnspec.export', 'cnnspec.runtime'): sys.modules.pop(m, None)"))
  ex <- system.file("examples", "table6.R", package = "cnnspec")
  expect_true(nzchar(ex))
  old <- Sys.getenv("CNNSPEC_EXAMPLE_QUICK")
  Sys.setenv(CNNSPEC_EXAMPLE_QUICK = "1")
  on.exit(Sys.setenv(CNNSPEC_EXAMPLE_QUICK = old), add = TRUE)
  owd <- setwd(repo_root())
  on.exit(setwd(owd), add = TRUE)
  pdf(NULL)
  on.exit(dev.off(), add = TRUE)
  out <- capture.output(source(ex, local = new.env()))
  expect_true(any(grepl("table6: OK: every printed value agrees", out, fixed = TRUE)))
  expect_true(any(grepl("Test accuracy: 0.6100", out, fixed = TRUE)))
  expect_true(any(grepl("exported ", out, fixed = TRUE)))
  calls <- reticulate::py$calls
  expect_equal(calls$train$data, "sample")
  expect_identical(calls$train$limit, 500L)
})

test_that("a wrong CNNSPEC_PYTHON gives one line saying how to fix it", {
  rscript <- file.path(R.home("bin"), "Rscript")
  out <- suppressWarnings(system2(rscript, c("-e", shQuote("library(cnnspec); cnnspec_check('x.yaml')")),
                                  stdout = TRUE, stderr = TRUE,
                                  env = c(paste0("R_LIBS=", paste(.libPaths(), collapse = ":")),
                                          "CNNSPEC_PYTHON=/nonexistent/bin/python")))
  err <- grep("^Error", out, value = TRUE)
  expect_length(err, 1)
  expect_match(err, "CNNSPEC_PYTHON is /nonexistent/bin/python, which does not exist", fixed = TRUE)
  expect_match(err, "Sys.setenv(CNNSPEC_PYTHON", fixed = TRUE)
})
