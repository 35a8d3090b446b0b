"""Workloads 1 and 2: training epochs of nncli against PyTorch, scikit-learn and the matrix-product limit."""

from __future__ import annotations

import contextlib
import gc

import engines
import numpy as np
from report import NOT_INSTALLED, Target, seconds, table
from timing import interleaved, median, spread
from workloads import MNIST_WIDTHS, iris_like, mnist_like, xor

ADAM = {"type": "adam", "lr": 1e-3}
BATCH = 128
NNCLI, SKLEARN, LIMIT = "nncli", "scikit-learn MLPClassifier", "matmul limit"
# the targets compare with PyTorch's textbook DataLoader loop (the issue's own PyTorch figure, 1.4 s on the
# MNIST-shaped epoch, is that loop's); the hand-tuned loop without a DataLoader is shown beside it
TORCH, TORCH_TUNED = "PyTorch (DataLoader loop)", "PyTorch (hand-tuned loop)"


def _mnist_calls(data, dtype: np.dtype) -> tuple[dict, dict]:
    """The engines to time for one dtype, and the reason each optional one is absent."""
    features, onehot = data.features.astype(dtype, copy=False), data.onehot.astype(dtype, copy=False)
    calls = {NNCLI: engines.nncli_epochs(features, onehot, MNIST_WIDTHS, hidden="relu", output="softmax",
                                         loss="categorical_crossentropy", optimizer=ADAM, batch_size=BATCH),
             LIMIT: engines.matmul_epochs(features, MNIST_WIDTHS, batch_size=BATCH)}
    absent = {}
    for name, loader in ((TORCH, True), (TORCH_TUNED, False)):
        try:
            calls[name] = engines.torch_epochs(features, data.labels, MNIST_WIDTHS, hidden="relu", output="linear",
                                               loss="cross_entropy", optimizer=ADAM, batch_size=BATCH,
                                               loader=loader)
        except engines.Missing:
            absent[name] = NOT_INSTALLED
    if dtype == np.float32:
        try:
            calls[SKLEARN] = engines.sklearn_epochs(features, data.labels, MNIST_WIDTHS, batch_size=BATCH,
                                                    lr=ADAM["lr"])
        except engines.Missing:
            absent[SKLEARN] = NOT_INSTALLED
    else:
        absent[SKLEARN] = "not measured"
    return calls, absent


def bench_mnist(quick: bool, repeats: int) -> tuple[str, list[Target], dict]:
    """Workload 1: one epoch on 60000 (quick: 20000) x 784, 784-256-128-10 relu, softmax + CE, adam, batch 128."""
    rows = 20000 if quick else 60000
    data = mnist_like(rows)
    flops = engines.epoch_flops(rows, MNIST_WIDTHS)
    results: dict = {"rows": rows, "gflop_per_epoch": flops / 1e9}
    cells: dict[str, dict[str, str]] = {}
    for dtype in (np.float32, np.float64):
        calls, absent = _mnist_calls(data, dtype)
        times = interleaved(calls, repeats)
        kind = np.dtype(dtype).name
        results[kind] = {name: median(values) for name, values in times.items()}
        results[f"{kind}_best"] = {name: min(values) for name, values in times.items()}
        for name, values in times.items():
            cells.setdefault(name, {})[kind] = (f"{seconds(median(values))} ({spread(values)})",
                                               f"{flops / median(values) / 1e9:.0f}")
        for name, reason in absent.items():
            cells.setdefault(name, {})[kind] = (reason, "")
        del calls
        gc.collect()
    rows_out = []
    for name in (NNCLI, TORCH, TORCH_TUNED, SKLEARN, LIMIT):
        f32 = cells.get(name, {}).get("float32", ("-", ""))
        f64 = cells.get(name, {}).get("float64", ("-", ""))
        rows_out.append([name, f32[0], f32[1], f64[0], f64[1]])
    text = (f"1. MNIST-shaped epoch: {rows} x 784, 784-256-128-10 relu, softmax + categorical cross-entropy, "
            f"adam, batch {BATCH}, shuffled; {flops / 1e9:.1f} GFLOP of products per epoch; median of {repeats} "
            "epochs (min-max)\n"
            + table(["engine", "float32 epoch", "GFLOP/s", "float64 epoch", "GFLOP/s"], rows_out))
    f32, f64, b32, b64 = (results[key] for key in ("float32", "float64", "float32_best", "float64_best"))
    targets = [
        Target("mnist", "nncli / PyTorch epoch, float32", _ratio(f32, NNCLI, TORCH), 0.6,
               best=_ratio(b32, NNCLI, TORCH)),
        Target("mnist", "matmul limit / nncli epoch, float32", _ratio(f32, LIMIT, NNCLI), 0.6, "min",
               "share of the BLAS limit reached", best=_ratio(b32, LIMIT, NNCLI)),
        Target("mnist", "nncli / PyTorch epoch, float64", _ratio(f64, NNCLI, TORCH), 0.6,
               note="'a similar ratio' read as the same 0.6", best=_ratio(b64, NNCLI, TORCH)),
    ]
    info = [["nncli / PyTorch hand-tuned loop, float32", _fmt(_ratio(f32, NNCLI, TORCH_TUNED))],
            ["nncli / PyTorch hand-tuned loop, float64", _fmt(_ratio(f64, NNCLI, TORCH_TUNED))],
            ["nncli / scikit-learn epoch, float32", _fmt(_ratio(f32, NNCLI, SKLEARN))],
            ["matmul limit / nncli epoch, float64", _fmt(_ratio(f64, LIMIT, NNCLI))],
            ["PyTorch / matmul limit, float32", _fmt(_ratio(f32, TORCH, LIMIT))]]
    text += "\n" + table(["other ratios (information only)", "ratio"], info)
    return text, targets, results


def bench_small(quick: bool, repeats: int) -> tuple[str, list[Target], dict]:
    """Workload 2: per-epoch time of tiny networks, where per-batch overhead is everything."""
    xor_x, xor_y = xor()
    iris = iris_like()
    sgd = {"type": "sgd", "lr": 0.1, "momentum": 0.9}
    cases = {
        "xor (4 rows, 2-3-1 tanh, mse, sgd, batch 4)": {
            "epochs": 500 if quick else 2000, "widths": (2, 3, 1), "hidden": "tanh", "output": "tanh", "batch": 4,
            "nncli": (xor_x, xor_y, "mse", sgd), "torch": (xor_x, xor_y, "mse", sgd)},
        "iris-sized (150 x 4, 16 relu, 3 softmax, adam, batch 16)": {
            "epochs": 100 if quick else 300, "widths": (4, 16, 3), "hidden": "relu", "output": "softmax",
            "batch": 16, "nncli": (iris.features, iris.onehot, "categorical_crossentropy", ADAM),
            "torch": (iris.features, iris.labels, "cross_entropy", ADAM)},
    }
    rows_out, targets, results = [], [], {}
    for label, case in cases.items():
        x, y, loss, optimizer = case["nncli"]
        calls = {NNCLI: engines.nncli_epochs(x, y, case["widths"], hidden=case["hidden"], output=case["output"],
                                             loss=loss, optimizer=optimizer, batch_size=case["batch"],
                                             epochs=case["epochs"])}
        x, y, loss, optimizer = case["torch"]
        for name, loader in ((TORCH, True), (TORCH_TUNED, False)):
            with contextlib.suppress(engines.Missing):
                calls[name] = engines.torch_epochs(x, y, case["widths"], hidden=case["hidden"],
                                                   output="linear" if loss == "cross_entropy" else case["output"],
                                                   loss=loss, optimizer=optimizer, batch_size=case["batch"],
                                                   epochs=case["epochs"], loader=loader)
        times = interleaved(calls, repeats)
        per_epoch = {name: median(values) / case["epochs"] for name, values in times.items()}
        results[label] = per_epoch
        speedup = _ratio(per_epoch, TORCH, NNCLI)
        best = _ratio({name: min(values) for name, values in times.items()}, TORCH, NNCLI)
        rows_out.append([label, seconds(per_epoch[NNCLI]),
                         seconds(per_epoch[TORCH]) if TORCH in per_epoch else NOT_INSTALLED, _fmt(speedup),
                         seconds(per_epoch[TORCH_TUNED]) if TORCH_TUNED in per_epoch else NOT_INSTALLED,
                         _fmt(_ratio(per_epoch, TORCH_TUNED, NNCLI))])
        targets.append(Target("small", f"PyTorch / nncli epoch, {label.split(' (')[0]}", speedup, 5.0, "min",
                              "nncli at least 5x faster", best=best))
    text = (f"2. Small networks: time per epoch, median of {repeats} runs of many epochs each\n"
            + table(["workload", "nncli", "PyTorch DataLoader", "ratio", "PyTorch hand-tuned", "ratio"],
                    rows_out))
    return text, targets, results


def _ratio(times: dict, numerator: str, denominator: str) -> float | None:
    if numerator not in times or denominator not in times:
        return None
    return times[numerator] / times[denominator]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
