"""CatBoost with eval_set, verbose=1: `N:\tlearn: v\ttest: v\tbest: v (i)\ttotal: ..\tremaining: ..`.

Iterations are 0-based. Truth: model.get_evals_result() ('learn' and 'validation'); `best` is
the running minimum of the validation values (both losses here are minimised).
"""

import argparse

from _truth import write_truth
from catboost import CatBoostClassifier, CatBoostRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--task", default="binary", choices=["binary", "reg"])
    p.add_argument("--learning_rate", type=float, default=0.1)
    p.add_argument("--iterations", type=int, default=25)
    a = p.parse_args()
    if a.task == "binary":
        x, y = load_breast_cancer(return_X_y=True)
        model = CatBoostClassifier(
            loss_function="Logloss",
            iterations=a.iterations,
            learning_rate=a.learning_rate,
            depth=4,
            random_seed=0,
            verbose=1,
            allow_writing_files=False,
            thread_count=1,
        )
        metric = "Logloss"
    else:
        x, y = load_diabetes(return_X_y=True)
        model = CatBoostRegressor(
            loss_function="RMSE",
            iterations=a.iterations,
            learning_rate=a.learning_rate,
            depth=4,
            random_seed=0,
            verbose=1,
            allow_writing_files=False,
            thread_count=1,
        )
        metric = "RMSE"
    xt, xv, yt, yv = train_test_split(x, y, test_size=0.25, random_state=0)
    model.fit(xt, yt, eval_set=(xv, yv))
    ev = model.get_evals_result()
    test = ev["validation"][metric]
    # `best:` is the best test value so far; both metrics here are minimised
    best = [min(test[: i + 1]) for i in range(len(test))]
    write_truth(a.truth, "catboost", {"learn": ev["learn"][metric], "test": test, "best": best})


if __name__ == "__main__":
    main()
