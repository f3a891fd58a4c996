#!/usr/bin/env bash
# Reproduce every log in sample_logs/ from real frameworks. Needs a separate venv with the pinned
# requirements (the frameworks are NOT metricwatch dependencies):
#   python3 -m venv /work/venv-gen && /work/venv-gen/bin/pip install torch==2.13.0 \
#       && /work/venv-gen/bin/pip install -r sample_logs/generate/requirements.txt
#   PY=/work/venv-gen/bin/python sample_logs/generate/run_all.sh
# MXNet and Chainer need numpy < 1.24: a second venv from requirements-legacy.txt, PY_LEGACY below.
# Each trial is a subprocess with stdout+stderr redirected to <trial>.log (no TTY), see sweep.py.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PY:-/work/venv-gen/bin/python}
PY_LEGACY=${PY_LEGACY:-/work/venv-chainer/bin/python}
OUT=..
export PYTHONHASHSEED=0 KERAS_BACKEND=torch HF_HUB_OFFLINE=1 CUDA_VISIBLE_DEVICES=""

sweep() { "$PY" sweep.py "$OUT/$1" "$2" "$3"; }

# --- sweeps (8+ trials, some clearly bad) ---
sweep xgboost/sweep train_xgboost.py '{
 "trial-01": {"eta": 0.3, "max_depth": 3, "rounds": 30},
 "trial-02": {"eta": 0.1, "max_depth": 4, "rounds": 30},
 "trial-03": {"eta": 0.05, "max_depth": 2, "rounds": 30},
 "trial-04": {"eta": 0.0001, "max_depth": 3, "rounds": 30},
 "trial-05": {"eta": 0.5, "max_depth": 6, "rounds": 30},
 "trial-06": {"eta": 0.001, "max_depth": 1, "rounds": 30},
 "trial-07": {"eta": 0.2, "max_depth": 3, "rounds": 30},
 "trial-08": {"eta": 1.0, "max_depth": 8, "rounds": 30},
 "trial-09": {"eta": 0.15, "max_depth": 5, "rounds": 30}}'
sweep xgboost/metrics train_xgboost.py '{
 "reg": {"task": "reg", "rounds": 10}, "multi": {"task": "multi", "rounds": 6},
 "poisson": {"task": "poisson", "rounds": 6}, "gamma": {"task": "gamma", "rounds": 6},
 "tweedie": {"task": "tweedie", "rounds": 6}, "rank": {"task": "rank", "rounds": 6},
 "cox": {"task": "cox", "rounds": 6}}'

sweep lightgbm/sweep train_lightgbm.py '{
 "trial-01": {"learning_rate": 0.1, "num_leaves": 15, "rounds": 30},
 "trial-02": {"learning_rate": 0.05, "num_leaves": 31, "rounds": 30},
 "trial-03": {"learning_rate": 0.3, "num_leaves": 7, "rounds": 30},
 "trial-04": {"learning_rate": 0.0001, "num_leaves": 15, "rounds": 30},
 "trial-05": {"learning_rate": 0.2, "num_leaves": 4, "rounds": 30},
 "trial-06": {"learning_rate": 0.001, "num_leaves": 2, "rounds": 30},
 "trial-07": {"learning_rate": 0.08, "num_leaves": 20, "rounds": 30},
 "trial-08": {"learning_rate": 2.0, "num_leaves": 63, "rounds": 30}}'
sweep lightgbm/metrics train_lightgbm.py '{
 "reg-small": {"task": "reg-small", "rounds": 10}, "multi": {"task": "multi", "rounds": 6}}'

sweep keras3/sweep train_keras.py '{
 "trial-01": {"lr": 0.001, "epochs": 8, "verbose": 2},
 "trial-02": {"lr": 0.01, "epochs": 8, "verbose": 1},
 "trial-03": {"lr": 0.000001, "epochs": 8, "verbose": 2},
 "trial-04": {"lr": 0.003, "epochs": 8, "verbose": 2},
 "trial-05": {"lr": 10.0, "optimizer": "sgd", "epochs": 8, "verbose": 2},
 "trial-06": {"lr": 0.03, "epochs": 8, "verbose": 1},
 "trial-07": {"lr": 0.00001, "optimizer": "sgd", "epochs": 8, "verbose": 1},
 "trial-08": {"lr": 0.005, "epochs": 8, "verbose": 2}}'
sweep keras3/single train_keras.py '{
 "epochs1-reg-small-v2": {"task": "reg-small", "lr": 0.00001, "epochs": 1, "verbose": 2},
 "epochs1-v1": {"epochs": 1, "verbose": 1},
 "reg-small-v1": {"task": "reg-small", "lr": 0.00001, "epochs": 3, "verbose": 1}}'

sweep pytorch/sweep train_torch.py '{
 "trial-01": {"lr": 0.05, "flush": 1}, "trial-02": {"lr": 0.01, "flush": 0},
 "trial-03": {"lr": 0.00001, "flush": 1}, "trial-04": {"lr": 0.1, "flush": 0},
 "trial-05": {"lr": 5.0, "flush": 1}, "trial-06": {"lr": 0.02, "hidden": 8, "flush": 1},
 "trial-07": {"lr": 0.0001, "flush": 0}, "trial-08": {"lr": 0.03, "hidden": 64, "flush": 1}}'

# --- single logs ---
sweep catboost/single train_catboost.py '{"binary": {"task": "binary"}, "reg": {"task": "reg", "iterations": 15}}'
sweep sklearn-mlp/single train_sklearn_mlp.py '{
 "early-stopping": {"early_stopping": 1}, "plain": {"early_stopping": 0, "max_iter": 15}}'
sweep lightning/single train_lightning.py '{"tqdm": {"epochs": 4}}'
if "$PY" -c "import transformers" 2>/dev/null; then
  sweep hf-trainer/single train_hf.py '{"tiny-bert": {"epochs": 3}}'
fi
if "$PY_LEGACY" -c "import mxnet, chainer" 2>/dev/null; then
  PY="$PY_LEGACY" sweep mxnet/single train_mxnet.py '{"module": {"epochs": 5}}'
  PY="$PY_LEGACY" sweep chainer/single train_chainer.py '{"print-report": {"epochs": 5}}'
fi
du -sh "$OUT"
