library(keras3)
block <- function(x, filters, strides = 1) {
  shortcut <- x
  y <- x |>
    layer_conv_2d(filters, 3, strides = strides, padding = "same", use_bias = FALSE) |>
    layer_batch_normalization() |>
    layer_conv_2d(filters, 3, padding = "same")
  if (strides != 1 || x$shape[[length(x$shape)]] != filters) {
    shortcut <- shortcut |> layer_conv_2d(filters, 1, strides = strides)
  }
  layer_add(list(y, shortcut)) |> layer_activation_relu()
}
inputs <- keras_input(shape = c(16, 16, 3))
x <- inputs |> layer_conv_2d(16, 3, padding = "same")
for (b in list(c(16, 1), c(32, 2), c(32, 1))) x <- block(x, b[1], b[2])
x <- x |> layer_reshape(c(x$shape[[2]] * x$shape[[3]], x$shape[[4]])) |> layer_global_average_pooling_1d()
outputs <- x |> layer_dense(x$shape[[2]] %/% 4, activation = "softmax")
model <- keras_model(inputs, outputs)
