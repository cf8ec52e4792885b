# cnnspec from R, end to end: seed 000's Table 6 (the R keras mnist_cnn example) on Fashion-MNIST.
#   check the table -> train -> plot the history -> evaluate -> export -> predict on an R array -> load back
# Run:  Rscript -e 'source(system.file("examples", "walkthrough.R", package = "cnnspec"), echo = TRUE)'
# CNNSPEC_EXAMPLE_QUICK=1 trains 2 epochs on the sample shipped with cnnspec (3,000 training and 1,000 test Fashion-MNIST images) instead (seconds).
library(cnnspec)
quick <- Sys.getenv("CNNSPEC_EXAMPLE_QUICK") %in% c("1", "true", "TRUE")
spec <- system.file("specs", "table6.yaml", package = "cnnspec")

# 1. Check the spec against the table the paper printed (pure Python, no TensorFlow)
tab <- cnnspec_check(spec)
print(tab)
stopifnot(all(tab$ok))

# 2. Data as R arrays: raw pixels 0-255 (N x 28 x 28 x 1), labels a factor of class names
data <- cnnspec_dataset(if (quick) "sample" else "fashion_mnist")
x_train <- data$train$x          # raw pixels: the model scales them (1/255, decided by fit)
y_train <- data$train$y
x_test <- data$test$x
y_test <- data$test$y

# 3. The model, compiled from the spec's train section (Adadelta, learning rate 1.0), and trained
model <- cnnspec_model(spec)
print(model)
history <- fit(model, x_train, y_train, epochs = if (quick) 2 else 12, batch_size = 128,
               validation_split = 0.2)
print(history)

# 4. Plot the history: loss and accuracy, training vs validation
plot(history)

# 5. Evaluate on the test split: a named numeric vector
scores <- evaluate(model, x_test, y_test)
print(scores)

# 6. Export to ONNX (parity with Keras is checked on the way)
onnx_file <- file.path(tempdir(), "table6.onnx")
cnnspec_export(model, onnx_file)

# 7. Predict on an R array: probabilities per class, or the class as a factor
new_images <- x_test[1:5, , , , drop = FALSE]
print(round(predict(model, new_images), 3))
print(predict(model, new_images, type = "class"))

# 8. Load the exported model back (ONNX Runtime, no TensorFlow) and predict the same
deployed <- cnnspec_load(onnx_file)
print(deployed)
same <- predict(deployed, new_images, type = "class")
print(data.frame(truth = y_test[1:5], keras = predict(model, new_images, type = "class"), onnx = same))
stopifnot(identical(same, predict(model, new_images, type = "class")))

# 9. Or train a recorded run, as `cnnspec train` does (the whole train section: schedule, early
#    stopping, best checkpoint; test metrics, confusion matrix), and load its model back
run <- cnnspec_train(spec, data = if (quick) "sample" else "fashion_mnist", epochs = if (quick) 1 else NULL,
                     out = file.path(tempdir(), "table6-run"))     # NULL (default): runs/table6-DATE-TIME
print(run)
plot(run)
trained <- cnnspec_load(run)
print(evaluate(trained, data$test$x, data$test$y))
