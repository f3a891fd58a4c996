"""A legacy-style training script: linear regression by mini-batch SGD, standard library only.

It knows nothing about metricwatch. It prints one line per epoch to stdout, the way countless
hand-written scripts do:

    epoch 3 train_loss=0.4123 val_loss=0.4410

and exits 0 when done. The demo and the end-to-end tests run it as `python train.py --lr X > log 2>&1`.
Too small a learning rate learns slowly (a clear loser); too large a one diverges (loss grows huge).
"""

from __future__ import annotations

import argparse
import random
import time


def make_data(n: int, dim: int, seed: int) -> tuple[list[list[float]], list[float]]:
    rng = random.Random(seed)
    true_w = [rng.uniform(-2, 2) for _ in range(dim)]
    xs = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(n)]
    ys = [sum(w * x for w, x in zip(true_w, row, strict=True)) + rng.gauss(0, 0.3) for row in xs]
    return xs, ys


def mse(w: list[float], xs: list[list[float]], ys: list[float]) -> float:
    total = 0.0
    for row, y in zip(xs, ys, strict=True):
        err = sum(wi * xi for wi, xi in zip(w, row, strict=True)) - y
        total += err * err
    return total / len(ys)


def sgd_epoch(
    w: list[float], xs: list[list[float]], ys: list[float], lr: float, rng: random.Random, batch: int = 16
) -> None:
    order = list(range(len(ys)))
    rng.shuffle(order)
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        grad = [0.0] * len(w)
        for i in idx:
            err = sum(wi * xi for wi, xi in zip(w, xs[i], strict=True)) - ys[i]
            for k, xk in enumerate(xs[i]):
                grad[k] += 2 * err * xk / len(idx)
        for k in range(len(w)):
            w[k] -= lr * grad[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--epoch-seconds", type=float, default=0.3, help="sleep per epoch, so a sweep overlaps like real jobs"
    )
    args = parser.parse_args()

    xs, ys = make_data(240, 6, seed=1234)
    train_x, train_y, val_x, val_y = xs[:180], ys[:180], xs[180:], ys[180:]
    rng = random.Random(args.seed)
    w = [0.0] * len(xs[0])
    print(f"training linear model lr={args.lr} epochs={args.epochs} seed={args.seed}")
    for epoch in range(1, args.epochs + 1):
        sgd_epoch(w, train_x, train_y, args.lr, rng)
        train_loss, val_loss = mse(w, train_x, train_y), mse(w, val_x, val_y)
        print(f"epoch {epoch} train_loss={train_loss:.6g} val_loss={val_loss:.6g}")
        time.sleep(args.epoch_seconds)
    print("done")


if __name__ == "__main__":
    main()
