"""Keras 3 model.fit on the torch backend (KERAS_BACKEND=torch), verbose=1 (progress bar) or 2.

verbose=2: `Epoch N/M` header, then
`k/k - 0s - 8ms/step - accuracy: .. - loss: .. - val_accuracy: .. - val_loss: ..`.
verbose=1: the same header, then one physical line per epoch made of \r/\b-separated frames with ANSI bold.
epochs=1: no header at all. Truth: History.history.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
from _truth import write_truth
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--task", default="binary", choices=["binary", "reg-small"])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--verbose", type=int, default=2)
    p.add_argument("--batch_size", type=int, default=32)
    a = p.parse_args()
    keras.utils.set_random_seed(0)
    if a.task == "binary":
        x, y = load_breast_cancer(return_X_y=True)
        out, loss, metrics = keras.layers.Dense(1, activation="sigmoid"), "binary_crossentropy", ["accuracy"]
    else:
        # tiny targets: Keras switches to exponent form (`loss: 9.0208e-07`)
        x, y = load_diabetes(return_X_y=True)
        y = y * 1e-5
        out, loss, metrics = keras.layers.Dense(1, kernel_initializer="zeros"), "mse", ["mae"]
    x = StandardScaler().fit_transform(x).astype("float32")
    xt, xv, yt, yv = train_test_split(x, y.astype("float32"), test_size=0.25, random_state=0)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(16, activation="relu"), out])
    opt = keras.optimizers.get({"class_name": a.optimizer, "config": {"learning_rate": a.lr}})
    model.compile(optimizer=opt, loss=loss, metrics=metrics)
    hist = model.fit(
        xt, yt, validation_data=(xv, yv), epochs=a.epochs, batch_size=a.batch_size, verbose=a.verbose
    )
    write_truth(a.truth, "keras3", {k: list(map(float, v)) for k, v in hist.history.items()})


if __name__ == "__main__":
    main()
