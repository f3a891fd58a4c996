"""Hugging Face Trainer on a tiny BERT built from a config (no hub download; HF_HUB_OFFLINE=1).

Inputs are load_digits pixels (0..16) used as token ids. eval/logging per epoch, so stdout gets
`{'loss': .., 'grad_norm': .., 'learning_rate': 3.125e-05, 'epoch': 1.0}` and
`{'eval_loss': .., 'eval_accuracy': .., ..., 'epoch': 1.0}`; tqdm bars go to stderr (same file here).
Truth: trainer.state.log_history.
"""

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from _truth import write_truth
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments


class Digits(torch.utils.data.Dataset):
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = torch.tensor(x, dtype=torch.long) + 1, torch.tensor(y)  # 0 is padding

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.x[i], "labels": self.y[i]}


def accuracy(pred) -> dict:
    return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", default="/tmp/metricwatch-hf-out")
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = load_digits(return_X_y=True)
    x, y = x[:600], y[:600]
    xt, xv, yt, yv = train_test_split(x.astype(int), y, test_size=0.25, random_state=0)
    cfg = BertConfig(
        vocab_size=20,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=10,
    )
    args = TrainingArguments(
        output_dir=a.out,
        num_train_epochs=a.epochs,
        learning_rate=a.lr,
        per_device_train_batch_size=32,
        eval_strategy="epoch",
        logging_strategy="epoch",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
    )
    trainer = Trainer(
        model=BertForSequenceClassification(cfg),
        args=args,
        train_dataset=Digits(xt, yt),
        eval_dataset=Digits(xv, yv),
        compute_metrics=accuracy,
    )
    trainer.train()
    metrics: dict[str, list[float]] = {"loss": [], "learning_rate": [], "eval_loss": [], "eval_accuracy": []}
    for entry in trainer.state.log_history:
        for k in metrics:
            if k in entry:
                metrics[k].append(float(entry[k]))
    write_truth(a.truth, "hf-trainer", metrics, epochs=[e["epoch"] for e in trainer.state.log_history])


if __name__ == "__main__":
    main()
