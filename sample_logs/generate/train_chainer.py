"""Chainer 7.8 trainer with LogReport + PrintReport (the examples' entry list), 1-based epochs:
rows `ESC[J<epoch> <main/loss> <validation/main/loss> <main/accuracy> <validation/main/accuracy> <time>`.
Truth: the LogReport extension's own log (what it also writes to <out>/log as JSON).
"""

import argparse
import tempfile

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
from _truth import write_truth
from chainer import training
from chainer.training import extensions
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

KEYS = ["main/loss", "validation/main/loss", "main/accuracy", "validation/main/accuracy"]


class MLP(chainer.Chain):
    def __init__(self) -> None:
        super().__init__()
        with self.init_scope():
            self.l1, self.l2 = L.Linear(None, 32), L.Linear(None, 10)

    def forward(self, x):
        return self.l2(F.relu(self.l1(x)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()
    np.random.seed(0)
    x, y = load_digits(return_X_y=True)
    x = StandardScaler().fit_transform(x).astype("float32")
    xt, xv, yt, yv = train_test_split(x, y.astype("int32"), test_size=0.25, random_state=0)
    model = L.Classifier(MLP())
    opt = chainer.optimizers.Adam(alpha=a.lr)
    opt.setup(model)
    train_iter = chainer.iterators.SerialIterator(list(zip(xt, yt, strict=True)), 64, shuffle=False)
    val_data = list(zip(xv, yv, strict=True))
    val_iter = chainer.iterators.SerialIterator(val_data, 64, repeat=False, shuffle=False)
    updater = training.updaters.StandardUpdater(train_iter, opt)
    trainer = training.Trainer(updater, (a.epochs, "epoch"), out=tempfile.mkdtemp())
    trainer.extend(extensions.Evaluator(val_iter, model))
    trainer.extend(extensions.LogReport())
    trainer.extend(extensions.PrintReport(["epoch", *KEYS, "elapsed_time"]))
    trainer.run()
    log = trainer.get_extension("LogReport").log
    write_truth(a.truth, "chainer", {k: [float(entry[k]) for entry in log] for k in KEYS})


if __name__ == "__main__":
    main()
