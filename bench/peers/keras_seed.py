"""The seed workload in Keras 3; the backend comes from KERAS_BACKEND (tensorflow or jax).

Usage: KERAS_BACKEND=jax python keras_seed.py DATA.csv BATCH EPOCHS [--seed N]
Prints one JSON line: val_accuracy, train_seconds, samples_per_second.
"""
import json
import sys
import time

import keras

from common import load

path, batch, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x, y, xv, yv = load(path)
seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 42
keras.utils.set_random_seed(seed)
model = keras.Sequential([
    keras.Input(shape=(x.shape[1],)),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy", metrics=["accuracy"])
t = time.perf_counter()
model.fit(x, y, epochs=epochs, batch_size=batch, validation_data=(xv, yv), verbose=2)
train_seconds = time.perf_counter() - t
loss, acc = model.evaluate(xv, yv, batch_size=8192, verbose=0)
print(json.dumps({"val_accuracy": acc, "val_loss": loss, "train_seconds": train_seconds,
                  "samples_per_second": len(x) * epochs / train_seconds}))
