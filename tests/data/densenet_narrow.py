import keras
from keras import layers

def dense_block(x, n_layers, growth):
    for i in range(n_layers):
        y = layers.BatchNormalization()(x)
        y = layers.Activation("relu")(y)
        y = layers.Conv2D(growth, 3, padding="same", use_bias=False)(y)
        x = layers.Concatenate()([x, y])
    return x

def transition(x):
    c = x.shape[-1]
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(c // 2, 1, use_bias=False)(x)
    return layers.AveragePooling2D(2)(x)

inputs = keras.Input(shape=(32, 32, 3))
x = layers.Conv2D(16, 3, padding="same")(inputs)
for blk in range(2):
    x = dense_block(x, 3, growth=12)
    x = transition(x)
h, w, c = x.shape[1:]
x = layers.Reshape((h * w, c))(x)
x = layers.GlobalAveragePooling1D()(x)
x = layers.Dense(x.shape[-1] // 2, activation="relu")(x)
outputs = layers.Dense(10, activation="softmax")(x)
model = keras.Model(inputs, outputs)

if __name__ == "__main__":
    model.summary()
    print("COUNT", model.count_params())
