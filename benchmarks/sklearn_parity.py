"""nncli against scikit-learn's MLP on its toy datasets (issue 3's done-criterion; not a test).

    python benchmarks/sklearn_parity.py [--seeds K] [--only NAME[,NAME...]] [--lr LR] [--epochs N] [--verbose]

Each dataset (iris, wine, breast_cancer, digits, diabetes) is split once (75/25, stratified for classes,
random_state 0) and written to CSV in a temporary directory. nncli trains a plain one-hidden-layer config
(64 relu units, adam, early stopping on val_loss with restore_best) with scikit-learn's defaults where they
have a counterpart: lr 1e-3, batch min(200, n), 200 epochs, patience 10, a 10% validation split, L2 1e-4.
scikit-learn trains MLPClassifier / MLPRegressor(hidden_layer_sizes=(64,), early_stopping=True) on the same
rows, standard-scaled as nncli scales. Both are scored by the same function on the test rows (accuracy or R²),
for seeds 0..K-1 (nncli's `seed`, scikit-learn's `random_state`), and the means are compared:
PASS when nncli >= scikit-learn - 0.01. `--lr` and `--epochs` change both sides alike (scikit-learn's
learning_rate_init and max_iter), e.g. to compare converged models on diabetes, whose unscaled targets
(25..346) neither side fits in 200 epochs at lr 1e-3.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # nncli from this checkout when it is not installed

from nncli import api

TOLERANCE = 0.01
TARGET = "target"


@dataclass(frozen=True)
class Budget:
    """What both sides get: Adam's learning rate and the most epochs (scikit-learn's max_iter)."""

    lr: float = 1e-3
    epochs: int = 200


@dataclass
class Dataset:
    """One toy dataset's fixed train/test split, target column `target`."""

    name: str
    task: str  # classification | regression
    train: pd.DataFrame
    test: pd.DataFrame

    @property
    def metric(self) -> str:
        return "accuracy" if self.task == "classification" else "r2"

    @property
    def classes(self) -> int:
        return int(self.train[TARGET].nunique())


def load_datasets(names: list[str]) -> list[Dataset]:
    """scikit-learn's bundled toy datasets, split once with a fixed seed."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    loaders = {"iris": datasets.load_iris, "wine": datasets.load_wine,
               "breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits,
               "diabetes": datasets.load_diabetes}
    result = []
    for name in names:
        bunch = loaders[name]()
        task = "regression" if name == "diabetes" else "classification"
        frame = pd.DataFrame(bunch.data, columns=[f"x{i}" for i in range(bunch.data.shape[1])])
        frame[TARGET] = bunch.target
        train, test = train_test_split(frame, test_size=0.25, random_state=0,
                                       stratify=frame[TARGET] if task == "classification" else None)
        result.append(Dataset(name, task, train.reset_index(drop=True), test.reset_index(drop=True)))
    return result


def nncli_config(dataset: Dataset, seed: int, budget: Budget = Budget()) -> dict:
    """The plain config: 64 relu units, adam with scikit-learn's defaults, early stopping."""
    if dataset.task == "regression":
        output, loss = {"units": 1}, "mse"
    elif dataset.classes == 2:
        output, loss = {"units": 1, "activation": "sigmoid"}, "binary_crossentropy"
    else:
        output, loss = {"units": dataset.classes, "activation": "softmax"}, "categorical_crossentropy"
    return {
        "name": dataset.name, "seed": seed,
        "data": {"train": "train.csv", "test": "test.csv", "target": TARGET, "valid": 0.1, "scale": "standard"},
        "layers": [{"type": "dense", "units": 64, "activation": "relu"}, {"type": "dense", **output}],
        "loss": loss, "metrics": [dataset.metric],
        "optimizer": {"type": "adam", "lr": budget.lr},
        "regularization": {"l2": 1e-4},
        "training": {"epochs": budget.epochs, "batch_size": min(200, len(dataset.train)),
                     "early_stopping": {"monitor": "val_loss", "patience": 10, "restore_best": True}},
    }


def score(task: str, truth: np.ndarray, predicted: np.ndarray) -> float:
    """The one scoring function for both sides: test accuracy or test R²."""
    from sklearn.metrics import accuracy_score, r2_score

    if task == "classification":
        return float(accuracy_score(truth.astype(np.int64), np.asarray(predicted).astype(np.int64)))
    return float(r2_score(truth, np.asarray(predicted, dtype=np.float64)))


def run_nncli(dataset: Dataset, seed: int, workdir: Path, budget: Budget = Budget()) -> tuple[float, int]:
    """nncli's test score and epochs run, trained from a config written to `workdir`."""
    folder = workdir / dataset.name
    folder.mkdir(exist_ok=True)
    dataset.train.to_csv(folder / "train.csv", index=False)
    dataset.test.to_csv(folder / "test.csv", index=False)
    config_path = folder / f"seed{seed}.yaml"
    config_path.write_text(yaml.safe_dump(nncli_config(dataset, seed, budget), sort_keys=False))
    result = api.train(config_path, out=folder / f"run-seed{seed}")
    predicted = result.trained.predict_frame(dataset.test.drop(columns=TARGET))[TARGET].to_numpy()
    return score(dataset.task, dataset.test[TARGET].to_numpy(), predicted), result.summary["epochs_run"]


def run_sklearn(dataset: Dataset, seed: int, budget: Budget = Budget(),
                early_stopping: bool = True) -> tuple[float, int]:
    """scikit-learn's test score and iterations run, on standard-scaled inputs."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    estimator = MLPClassifier if dataset.task == "classification" else MLPRegressor
    pipeline = make_pipeline(StandardScaler(),
                             estimator(hidden_layer_sizes=(64,), early_stopping=early_stopping,
                                       learning_rate_init=budget.lr, max_iter=budget.epochs,
                                       random_state=seed))
    features, target = dataset.train.drop(columns=TARGET), dataset.train[TARGET]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(features, target)
    predicted = pipeline.predict(dataset.test.drop(columns=TARGET))
    return score(dataset.task, dataset.test[TARGET].to_numpy(), predicted), pipeline[-1].n_iter_


def compare(datasets: list[Dataset], seeds: int, budget: Budget, verbose: bool) -> list[dict]:
    """Mean and spread of each side's score over the seeds, one row per dataset."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="nncli-parity-") as temporary:
        for dataset in datasets:
            ours, theirs, our_epochs, their_epochs, plain = [], [], [], [], []
            for seed in range(seeds):
                value, epochs = run_nncli(dataset, seed, Path(temporary), budget)
                ours.append(value)
                our_epochs.append(epochs)
                value, epochs = run_sklearn(dataset, seed, budget)
                theirs.append(value)
                their_epochs.append(epochs)
                plain.append(run_sklearn(dataset, seed, budget, early_stopping=False)[0])
                if verbose:
                    print(f"  {dataset.name} seed {seed}: nncli {ours[-1]:.4f} ({our_epochs[-1]} epochs)  "
                          f"sklearn {theirs[-1]:.4f} ({their_epochs[-1]} iterations)  "
                          f"sklearn without early stopping {plain[-1]:.4f}", flush=True)
            metric = "test R²" if dataset.metric == "r2" else "test accuracy"
            rows.append({"dataset": dataset.name, "metric": metric,
                         "nncli": float(np.mean(ours)), "nncli_std": float(np.std(ours)),
                         "sklearn": float(np.mean(theirs)), "sklearn_std": float(np.std(theirs)),
                         "sklearn_plain": float(np.mean(plain)), "sklearn_plain_std": float(np.std(plain)),
                         "nncli_epochs": float(np.mean(our_epochs)),
                         "sklearn_epochs": float(np.mean(their_epochs))})
    return rows


def print_table(rows: list[dict], seeds: int) -> bool:
    """The comparison as a plain table; True when every dataset passes."""
    columns = ["dataset", "metric", "nncli", "sklearn", "difference", "result", "sklearn no-ES", "epochs nn/sk"]
    lines = []
    passed = True
    for row in rows:
        difference = row["nncli"] - row["sklearn"]
        ok = row["nncli"] >= row["sklearn"] - TOLERANCE
        passed &= ok
        lines.append([row["dataset"], row["metric"], f"{row['nncli']:.4f} ± {row['nncli_std']:.3f}",
                      f"{row['sklearn']:.4f} ± {row['sklearn_std']:.3f}", f"{difference:+.4f}",
                      "PASS" if ok else "FAIL", f"{row['sklearn_plain']:.4f} ± {row['sklearn_plain_std']:.3f}",
                      f"{row['nncli_epochs']:.0f} / {row['sklearn_epochs']:.0f}"])
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *lines, strict=False)]
    print(f"mean over {seeds} seed(s) ± standard deviation; PASS when nncli >= sklearn - {TOLERANCE}; "
          "sklearn = MLP with early_stopping=True (the criterion), sklearn no-ES = the same without early "
          "stopping (for information)")
    for line in [columns, ["-" * width for width in widths], *lines]:
        print("  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                        for i, (cell, width) in enumerate(zip(line, widths, strict=False))))
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, metavar="K", help="seeds 0..K-1 for both (default 5)")
    parser.add_argument("--only", default="iris,wine,breast_cancer,digits,diabetes", metavar="NAMES",
                        help="comma-separated datasets")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate for both (default 1e-3)")
    parser.add_argument("--epochs", type=int, default=200, help="most epochs for both (default 200)")
    parser.add_argument("--verbose", action="store_true", help="print every seed's scores")
    args = parser.parse_args(argv)
    rows = compare(load_datasets(args.only.split(",")), args.seeds, Budget(args.lr, args.epochs), args.verbose)
    return 0 if print_table(rows, args.seeds) else 1


if __name__ == "__main__":
    sys.exit(main())
