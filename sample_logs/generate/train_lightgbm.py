"""LightGBM native API (lgb.train) with valid_sets=[train, val] → names `training`, `valid_1`.

Prints `[iter]\ttraining's <metric>: <v>\tvalid_1's <metric>: <v>` (1-based, %g format).
Truth: lgb.record_evaluation.
"""

import argparse

import lightgbm as lgb
from _truth import write_truth
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.model_selection import train_test_split

TASKS = {
    "binary": ("binary", ["binary_logloss", "auc", "binary_error"], load_breast_cancer, 1.0),
    # the target is scaled down so LightGBM's %g prints exponents (`l2: 8.07812e-09`)
    "reg-small": ("regression", ["l2", "l1", "rmse"], load_diabetes, 1e-6),
    "multi": ("multiclass", ["multi_logloss", "multi_error"], load_digits, 1.0),
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--task", default="binary", choices=TASKS)
    p.add_argument("--learning_rate", type=float, default=0.1)
    p.add_argument("--num_leaves", type=int, default=15)
    p.add_argument("--rounds", type=int, default=20)
    a = p.parse_args()
    objective, metrics, loader, scale = TASKS[a.task]
    x, y = loader(return_X_y=True)
    xt, xv, yt, yv = train_test_split(x, y * scale, test_size=0.25, random_state=0)
    dtrain = lgb.Dataset(xt, label=yt)
    dval = lgb.Dataset(xv, label=yv, reference=dtrain)
    params = {
        "objective": objective,
        "metric": metrics,
        "learning_rate": a.learning_rate,
        "num_leaves": a.num_leaves,
        "seed": 0,
        "num_threads": 1,
        "min_data_in_leaf": 5,
    }
    if a.task == "multi":
        params["num_class"] = 10
    record: dict = {}
    print(f"training lightgbm {lgb.__version__} task={a.task} params={params}", flush=True)
    lgb.train(
        params,
        dtrain,
        a.rounds,
        valid_sets=[dtrain, dval],
        callbacks=[lgb.log_evaluation(1), lgb.record_evaluation(record)],
    )
    names = {"training": "training", "valid_1": "valid"}
    truth = {
        f"{names[ds]}:{m}": list(map(float, v))
        for ds, by_metric in record.items()
        for m, v in by_metric.items()
    }
    write_truth(a.truth, "lightgbm", truth)


if __name__ == "__main__":
    main()
