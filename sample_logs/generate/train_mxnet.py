"""MXNet 1.9 Module API (mod.fit) with logging at INFO (to stderr, as MXNet scripts do):
`Epoch[N] Batch [i-j]\tSpeed: ..\taccuracy=..`, `Epoch[N] Train-accuracy=..`, `Epoch[N] Time cost=..`,
`Epoch[N] Validation-accuracy=..` (0-based). Needs numpy < 1.24 (separate venv, see README).
Truth: the fit loop's own EvalMetric objects, read in batch_end_callback (training, global value at
the epoch's last batch) and eval_end_callback (validation). Time cost has no API: not compared.
"""

import argparse
import logging

import mxnet as mx
import numpy as np
from _truth import write_truth
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    mx.random.seed(0)
    np.random.seed(0)
    x, y = load_digits(return_X_y=True)
    x = StandardScaler().fit_transform(x).astype("float32")
    xt, xv, yt, yv = train_test_split(x, y.astype("float32"), test_size=0.25, random_state=0)
    train = mx.io.NDArrayIter(xt, yt, batch_size=64, shuffle=False)
    val = mx.io.NDArrayIter(xv, yv, batch_size=64)
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=32)
    net = mx.sym.Activation(net, act_type="relu")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=10), name="softmax")
    train_acc: dict[int, float] = {}
    val_acc: list[float] = []

    def on_batch(param) -> None:
        train_acc[param.epoch] = dict(param.eval_metric.get_global_name_value())["accuracy"]

    def on_eval(param) -> None:
        val_acc.append(dict(param.eval_metric.get_name_value())["accuracy"])

    mod = mx.mod.Module(net, context=mx.cpu())
    mod.fit(
        train,
        eval_data=val,
        optimizer="sgd",
        optimizer_params={"learning_rate": a.lr},
        eval_metric="acc",
        num_epoch=a.epochs,
        initializer=mx.init.Xavier(),
        batch_end_callback=[mx.callback.Speedometer(64, 5), on_batch],
        eval_end_callback=on_eval,
    )
    write_truth(
        a.truth,
        "mxnet",
        {"train:accuracy": [train_acc[e] for e in sorted(train_acc)], "validation:accuracy": val_acc},
        unchecked=["time_cost"],
    )


if __name__ == "__main__":
    main()
