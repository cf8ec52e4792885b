library(testthat)
library(cnnspec)
test_check("cnnspec")
