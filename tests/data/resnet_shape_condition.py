import keras
from keras import layers

def block(x, filters, stride=1):
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Conv2D(filters, 3, padding="same")(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride)(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))

inputs = keras.Input((16, 16, 3))
x = layers.Conv2D(16, 3, padding="same")(inputs)
for f, s in [(16, 1), (32, 2), (32, 1)]:
    x = block(x, f, s)
h, w, c = x.shape[1:]
x = layers.Reshape((h * w, c))(x)
x = layers.GlobalAveragePooling1D()(x)
outputs = layers.Dense(x.shape[-1] // 4, activation="softmax")(x)
model = keras.Model(inputs, outputs)
