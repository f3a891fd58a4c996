"""PyTorch Lightning 2.x with the TQDM progress bar (stdout, \r-separated frames, 0-based `Epoch N:`).

The bar is chosen explicitly (TQDMProgressBar): Keras pulls in `rich` and with rich installed Lightning
would default to RichProgressBar, which prints nothing per epoch into a file. Validation values are
rounded by the bar to 3 significant digits. Truth: trainer.callback_metrics at the end of each
training epoch (after that epoch's validation), recorded by a callback.
"""

import argparse

import lightning as L
import torch
from _truth import write_truth
from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset

KEYS = ("val_loss", "val_acc", "train_loss_epoch")


class Net(L.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, y), prog_bar=True)
        self.log("val_acc", (logits.argmax(1) == y).float().mean(), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class Truth(Callback):
    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {k: [] for k in KEYS}

    def on_train_epoch_end(self, trainer, _module) -> None:
        for k in KEYS:
            self.values[k].append(float(trainer.callback_metrics[k]))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--epochs", type=int, default=4)
    a = p.parse_args()
    L.seed_everything(0)
    torch.set_num_threads(1)
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    xt, xv, yt, yv = train_test_split(x, y, test_size=0.25, random_state=0)
    ds = lambda xx, yy: TensorDataset(torch.tensor(xx).float(), torch.tensor(yy))  # noqa: E731
    truth = Truth()
    trainer = L.Trainer(
        max_epochs=a.epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        callbacks=[TQDMProgressBar(refresh_rate=1), truth],
    )
    trainer.fit(Net(a.lr), DataLoader(ds(xt, yt), batch_size=64), DataLoader(ds(xv, yv), batch_size=64))
    write_truth(a.truth, "lightning", truth.values)


if __name__ == "__main__":
    main()
