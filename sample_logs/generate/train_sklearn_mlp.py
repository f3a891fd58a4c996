"""scikit-learn MLPClassifier(verbose=True): `Iteration N, loss = v` (1-based); with early_stopping a
`Validation score: v` line follows each iteration line. Truth: loss_curve_ and validation_scores_.
"""

import argparse
import warnings

from _truth import write_truth
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--early_stopping", type=int, default=1)
    p.add_argument("--learning_rate_init", type=float, default=0.001)
    p.add_argument("--max_iter", type=int, default=25)
    a = p.parse_args()
    x, y = load_digits(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    warnings.simplefilter("always", ConvergenceWarning)  # a real job's stderr shows it
    clf = MLPClassifier(
        hidden_layer_sizes=(32,),
        max_iter=a.max_iter,
        verbose=True,
        early_stopping=bool(a.early_stopping),
        n_iter_no_change=100,
        learning_rate_init=a.learning_rate_init,
        random_state=0,
    )
    clf.fit(x, y)
    metrics = {"loss": clf.loss_curve_}
    if a.early_stopping:
        metrics["validation_score"] = clf.validation_scores_
    write_truth(a.truth, "sklearn-mlp", metrics)


if __name__ == "__main__":
    main()
