"""`nncli gradcheck` checks a config's whole network against float64 central differences: every example passes,
a layer with a wrong backward fails with exit 1."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nncli.gradcheck import TOLERANCE, check_config, relative_error
from nncli.nn.layers import LAYERS
from nncli.nn.layers.dense import Dense
from tests.test_cli import cli_env, invoke
from tests.test_errors import fails

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(path for path in (REPO / "configs").glob("*.yaml") if not path.stem.endswith("-sweep"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_passes(path):
    results = check_config(path)
    assert results and all(result.max_error < TOLERANCE for result in results), results
    assert all(result.checked == min(int(np.prod(result.shape)), 40) for result in results)


class WrongBackwardDense(Dense):
    """A test double: dense whose weight gradient is 1 % off."""

    def backward(self, grad_output):
        grad_inputs = super().backward(grad_output)
        self.grads["weight"] *= 1.01
        return grad_inputs


def test_a_layer_with_a_wrong_backward_fails_with_exit_1(monkeypatch):
    monkeypatch.setitem(LAYERS._classes, "dense", WrongBackwardDense)
    results = check_config(REPO / "configs" / "moons.yaml")
    weights = {result.name for result in results if result.name.endswith(".weight")}
    assert len(weights) == 3 and {result.name for result in results if not result.passed} == weights
    result = invoke("gradcheck", str(REPO / "configs" / "moons.yaml"), code=1)
    assert "FAIL" in result.stdout and "3 of 6 parameters differ" in result.stdout


def test_table_names_every_parameter_and_set_applies():
    shown = invoke("gradcheck", str(REPO / "configs" / "xor.yaml"), "--set", "layers.0.units=5").stdout
    assert "layers.0.weight │ 2×5" in shown and "all 4 parameters agree within 1e-05" in shown


def test_relative_error_ignores_noise_on_nearly_zero_gradients():
    assert relative_error(np.array([1e-12, 2.0]), np.array([3e-11, 2.0 + 2e-6])).max() == pytest.approx(1e-6, rel=1e-4)


def test_config_errors_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fails("gradcheck", str(REPO / "configs" / "moons.yaml"), "--set", "layers.0.unitz=3",
          expect=("unknown key 'unitz'; did you mean 'units'?",))


def test_gradcheck_in_a_real_process():
    done = subprocess.run([sys.executable, "-m", "nncli", "gradcheck", str(REPO / "configs" / "iris.yaml")],
                          env=cli_env(), capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert "agree within 1e-05" in done.stdout
