# "Deep Learning with R" (Chollet and Allaire, 2018), 5.3.2 fine-tuning, as published (the generators shortened):
# a VGG16 base frozen for the new head, then unfrozen from block3_conv1 and trained again at a lower rate.
library(keras)
train_generator <- flow_images_from_directory(train_dir, train_datagen, target_size = c(150, 150),
                                              batch_size = 20, class_mode = "binary")
conv_base <- application_vgg16(
  weights = "imagenet",
  include_top = FALSE,
  input_shape = c(150, 150, 3)
)
model <- keras_model_sequential() %>%
  conv_base %>%
  layer_flatten() %>%
  layer_dense(units = 256, activation = "relu") %>%
  layer_dense(units = 1, activation = "sigmoid")
freeze_weights(conv_base)
model %>% compile(
  loss = "binary_crossentropy",
  optimizer = optimizer_rmsprop(lr = 2e-5),
  metrics = c("accuracy")
)
history <- model %>% fit_generator(
  train_generator,
  steps_per_epoch = 100,
  epochs = 30
)
unfreeze_weights(conv_base, from = "block3_conv1")
model %>% compile(
  loss = "binary_crossentropy",
  optimizer = optimizer_rmsprop(lr = 1e-5),
  metrics = c("accuracy")
)
history <- model %>% fit_generator(
  train_generator,
  steps_per_epoch = 100,
  epochs = 100
)
