# The repo root (for specs/): CNNSPEC_REPO, else walk up from the test directory.
repo_root <- function() {
  env <- Sys.getenv("CNNSPEC_REPO")
  if (nzchar(env)) return(normalizePath(env))
  d <- normalizePath(getwd())
  while (!file.exists(file.path(d, "specs", "table3.yaml"))) {
    parent <- dirname(d)
    if (parent == d) stop("cannot find the cnnspec repo (set CNNSPEC_REPO)")
    d <- parent
  }
  d
}
spec <- function(name) file.path(repo_root(), "specs", name)

skip_without_module <- function(module) {
  cnnspec::cnnspec_python()
  skip_if_not(reticulate::py_module_available(module), paste("Python module", module, "not available"))
}

# The Python API a test needs (module and function), else skip: the train/export/runtime modules
# come from other branches, and their function names are what the R bridge calls.
skip_without_api <- function(module, attr) {
  skip_without_module(module)
  skip_if_not(reticulate::py_has_attr(reticulate::import(module), attr), paste0(module, ".", attr, " not available"))
}
