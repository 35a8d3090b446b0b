"""How much memory a config's network needs to train, checked before a single array of it is allocated.

A `units: 2000000000` would otherwise end in numpy's MemoryError (or the kernel killing the process) long after
the config was accepted; `check_network_fits` refuses it as a config error naming the field and the size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from nncli.config import DATA_INPUT, Config, config_error
from nncli.nn.model import EVALUATION_BATCH
from nncli.nn.optimizers import OPTIMIZERS

MEMORY_LIMIT: int | None = None
"""Bytes a network may need to train; None means half of the machine's memory (tests set a small one)."""
_UNKNOWN_MEMORY = 64 << 30  # assumed where the machine's memory cannot be read
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


@dataclass(frozen=True)
class LayerSize:
    """What one layer adds: its output width and its parameter count."""

    width: int
    parameters: int


def layer_sizes(layers: list[dict], input_width: int, categories: dict[str, int] | None = None) -> list[LayerSize]:
    """Each resolved layer's width and parameters, worked out from the config alone (Python ints, no arrays).

    A layer with `units` outputs that many from a weight per input and unit plus a bias per unit; `concat`
    outputs the sum of its inputs' widths; any other layer its first input's width, with parameters too few
    to matter here. An embedding outputs `dim` from a table of (categories + 1) × dim (`categories`: per column).
    """
    widths = {DATA_INPUT: input_width}
    sizes = []
    for layer in layers:
        input_widths = [widths[name] for name in layer["inputs"]]
        if layer["type"] == "embedding":
            size = LayerSize(layer["dim"], ((categories or {}).get(layer["column"], 0) + 1) * layer["dim"])
        elif "units" in layer:
            size = LayerSize(layer["units"], (sum(input_widths) + 1) * layer["units"])
        else:
            size = LayerSize(sum(input_widths) if layer["type"] == "concat" else input_widths[0], 0)
        widths[layer["name"]] = size.width
        sizes.append(size)
    return sizes


def memory_limit() -> int:
    """MEMORY_LIMIT, else half of the physical memory (or of the container's limit, when lower)."""
    if MEMORY_LIMIT is not None:
        return MEMORY_LIMIT
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = _UNKNOWN_MEMORY
    for path in _CGROUP_LIMITS:
        try:
            with open(path, encoding="ascii") as limit:
                total = min(total, int(limit.read().strip()))
        except (OSError, ValueError):  # absent, or "max"
            continue
    return max(total, 1) // 2


def check_network_fits(config: Config, input_width: int, rows: int, categories: dict[str, int] | None = None) -> None:
    """Refuse a network that would need more than `memory_limit()` bytes to train on `rows` rows.

    Counted: every parameter with its gradient and the optimizer's state and work arrays, and each layer's
    output and gradient for the rows of one pass (a training batch, or an evaluation batch when larger).
    """
    sizes = layer_sizes(config.layer_specs(), input_width, categories)
    itemsize = 4 if config.dtype == "float32" else 8
    optimizer = OPTIMIZERS.get(config.optimizer.type).from_config(config.optimizer.to_dict())
    copies = 2 + len(optimizer.state_names()) + optimizer.work_array_count()
    batch = config.training.batch_size
    pass_rows = min(max(batch, EVALUATION_BATCH), max(rows, 1))
    parameter_bytes = sum(size.parameters for size in sizes) * copies * itemsize
    activation_bytes = sum(size.width for size in sizes) * 2 * pass_rows * itemsize
    limit = memory_limit()
    if parameter_bytes + activation_bytes <= limit:
        return
    if activation_bytes > parameter_bytes and batch > EVALUATION_BATCH and rows > EVALUATION_BATCH:
        field, what = "training.batch_size", f"batches of {min(batch, rows):,} rows"
    else:
        index = max(range(len(sizes)), key=lambda i: sizes[i].parameters * copies + sizes[i].width * 2 * pass_rows)
        layer = config.layer_specs()[index]
        field = f"layers[{index}].units" if "units" in layer else f"layers[{index}]"
        what = f"{layer['units']:,} units" if "units" in layer else f"this layer ({sizes[index].width:,} wide)"
    parameters = sum(size.parameters for size in sizes)
    raise config_error(config, field, (
        f"with {what} the network needs about {_size(parameter_bytes + activation_bytes)} of memory to train "
        f"({parameters:,} parameters with their gradients and {config.optimizer.type} state: "
        f"{_size(parameter_bytes)}; layer outputs for {pass_rows:,} rows: {_size(activation_bytes)}), more than "
        f"the {_size(limit)} allowed (half of this machine's memory)"))


def _size(count: int) -> str:
    """Bytes as a reader takes them in: 512 bytes, 3.2 MiB, 41 GiB, 8.6e+21 GiB."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.3g} {unit}"
    return f"{count} bytes"
