"""XGBoost native API (xgb.train) with evals=[(train,'train'),(val,'validation')], verbose_eval=1.

Prints `[round]\ttrain-<metric>:<v>\tvalidation-<metric>:<v>` per boosting round (0-based).
Truth: Booster evals_result (the `evals_result=` dict filled by xgb.train).
"""

import argparse

import xgboost as xgb
from _truth import write_truth
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.model_selection import train_test_split

TASKS = {
    # task: (objective, eval metrics, dataset loader)
    "binary": ("binary:logistic", ["logloss", "error", "auc", "aucpr"], load_breast_cancer),
    "reg": ("reg:squarederror", ["rmse", "mae"], load_diabetes),
    "multi": ("multi:softprob", ["mlogloss", "merror"], load_digits),
    "poisson": ("count:poisson", ["poisson-nloglik"], load_diabetes),
    "gamma": ("reg:gamma", ["gamma-nloglik", "gamma-deviance"], load_diabetes),
    "tweedie": ("reg:tweedie", ["tweedie-nloglik@1.5"], load_diabetes),
    "rank": ("rank:ndcg", ["ndcg", "map"], load_digits),
    "cox": ("survival:cox", ["cox-nloglik"], load_diabetes),
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--task", default="binary", choices=TASKS)
    p.add_argument("--eta", type=float, default=0.3)
    p.add_argument("--max_depth", type=int, default=3)
    p.add_argument("--rounds", type=int, default=20)
    a = p.parse_args()
    objective, metrics, loader = TASKS[a.task]
    x, y = loader(return_X_y=True)
    if a.task == "rank":
        y = (y >= 5).astype(float)  # binary relevance; groups of 20 documents
    xt, xv, yt, yv = train_test_split(x, y, test_size=0.25, random_state=0)
    dtrain, dval = xgb.DMatrix(xt, label=yt), xgb.DMatrix(xv, label=yv)
    if a.task == "rank":
        dtrain.set_group([20] * (len(yt) // 20) + ([len(yt) % 20] if len(yt) % 20 else []))
        dval.set_group([20] * (len(yv) // 20) + ([len(yv) % 20] if len(yv) % 20 else []))
    params = {
        "objective": objective,
        "eta": a.eta,
        "max_depth": a.max_depth,
        "eval_metric": metrics,
        "seed": 0,
        "nthread": 1,
    }
    if a.task == "multi":
        params["num_class"] = 10
    evals_result: dict = {}
    print(f"training xgboost {xgb.__version__} task={a.task} params={params}", flush=True)
    xgb.train(
        params,
        dtrain,
        a.rounds,
        evals=[(dtrain, "train"), (dval, "validation")],
        evals_result=evals_result,
        verbose_eval=1,
    )
    truth = {
        f"{ch}:{m.split('@')[0]}": list(map(float, vals))
        for ch, by_metric in evals_result.items()
        for m, vals in by_metric.items()
    }
    write_truth(
        a.truth,
        "xgboost",
        truth,
        printed_names=sorted(f"{ch}-{m}" for ch, d in evals_result.items() for m in d),
    )


if __name__ == "__main__":
    main()
