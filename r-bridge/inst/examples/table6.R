# Seed 000's R workflow with cnnspec: Keras's R mnist_cnn example (Table 6) on Fashion-MNIST.
#
#   conv 32 3x3 relu -> conv 64 3x3 relu -> max pooling 2x2 -> dropout 0.25 -> flatten
#   -> dense 128 relu -> dropout 0.5 -> dense 10 softmax; 12 epochs, batch 128, validation_split 0.2
#
# Run from the cnnspec repo:  Rscript r-bridge/inst/examples/table6.R
# CNNSPEC_EXAMPLE_QUICK=1 trains 1 epoch on 500 images of the bundled sample instead (for tests).
library(cnnspec)

quick <- nzchar(Sys.getenv("CNNSPEC_EXAMPLE_QUICK")) && Sys.getenv("CNNSPEC_EXAMPLE_QUICK") != "0"
spec_file <- "specs/table6.yaml"

# Check the spec against the summary table the paper printed -----------------------------
summary_table <- cnnspec_check(spec_file)
print(summary_table)
stopifnot(all(summary_table$ok))

# The same model, as R keras would build it ------------------------------------------------
model <- cnnspec_model(spec_file)
cat(sprintf("Keras model: %s parameters\n", format(model$count_params(), big.mark = ",")))

# Train: 12 epochs, batch size 128, validation_split 0.2 (the spec's train section) -------
run <- if (quick) {
  cnnspec_train(spec_file, data = "sample", limit = 500, epochs = 1, batch_size = 128)
} else {
  cnnspec_train(spec_file, data = "fashion_mnist", epochs = 12, batch_size = 128)
}
print(run)
plot(run)                                  # learning curves, like plot(history) in R keras

# Evaluate --------------------------------------------------------------------------------
m <- run$metrics
if (!is.null(m$accuracy)) cat(sprintf("Test loss: %.4f\nTest accuracy: %.4f\n", m$loss, m$accuracy))

# Export to ONNX for deployment -----------------------------------------------------------
onnx_file <- if (quick) tempfile("table6-", fileext = ".onnx") else "table6.onnx"
cnnspec_export(run, onnx_file)
cat(sprintf("exported %s\n", onnx_file))
