"""A plain PyTorch loop, as many user scripts are: one print per epoch,
`epoch N train_loss=0.1234 val_loss=0.2345 val_acc=0.9000` (1-based).

`--flush 1` prints with flush=True; `--flush 0` uses plain print, which is block-buffered when stdout
is a file, so a follower sees the lines only when the buffer fills or the process exits.
Truth: the loop's own lists of the values it printed (full precision).
"""

import argparse

import torch
from _truth import write_truth
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--flush", type=int, default=1)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = load_digits(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    xt, xv, yt, yv = (torch.tensor(v) for v in train_test_split(x, y, test_size=0.25, random_state=0))
    xt, xv = xt.float(), xv.float()
    model = torch.nn.Sequential(torch.nn.Linear(64, a.hidden), torch.nn.ReLU(), torch.nn.Linear(a.hidden, 10))
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    lossf = torch.nn.CrossEntropyLoss()
    hist: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_acc": []}
    print(f"torch {torch.__version__} lr={a.lr} hidden={a.hidden}", flush=a.flush == 1)
    for epoch in range(1, a.epochs + 1):
        model.train()
        total = 0.0
        for i in range(0, len(xt), 64):
            opt.zero_grad()
            loss = lossf(model(xt[i : i + 64]), yt[i : i + 64])
            loss.backward()
            opt.step()
            total += loss.item() * len(xt[i : i + 64])
        model.eval()
        with torch.no_grad():
            logits = model(xv)
            val_loss = lossf(logits, yv).item()
            val_acc = (logits.argmax(1) == yv).float().mean().item()
        train_loss = total / len(xt)
        for k, v in (("train_loss", train_loss), ("val_loss", val_loss), ("val_acc", val_acc)):
            hist[k].append(v)
        print(
            f"epoch {epoch} train_loss={train_loss:.4f} val_loss={val_loss:.4f} val_acc={val_acc:.4f}",
            flush=a.flush == 1,
        )
    write_truth(a.truth, "plain", hist)


if __name__ == "__main__":
    main()
