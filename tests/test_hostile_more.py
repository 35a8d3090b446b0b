"""More hostile and unlucky inputs, found by trying beyond the first list: each fails fast with one `error:`
paragraph (exit 2) naming the file and the line, column or field, in bounded time and memory, and changes no
file; or, where the input is fine, it just works."""

import time

from nncli.config.yamlio import read_yaml
from tests import test_errors as errors
from tests.test_hostile_data import bounded

# The fixtures of test_errors: a working directory with a config, its data and a trained run.
trained = errors.trained
project = errors.project


# --- configs -------------------------------------------------------------------------------------------------

def test_a_wide_merge_key_is_read_in_linear_time():
    keys = 8000  # copying each merged key's marks used to scan every mark: minutes for a 100 KiB config
    text = "base: {<<: {" + ", ".join(f"k{i}: {i}" for i in range(keys)) + "}}\n"
    started = time.perf_counter()
    data, where = bounded(lambda: read_yaml(text, "wide.yaml"), 20)
    assert len(data["base"]) == keys and data["base"]["k7999"] == 7999
    assert where.marks[("base", "k7999")][1].line == 1
    assert time.perf_counter() - started < 10
