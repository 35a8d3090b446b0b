"""Every example in configs/ reaches its target, and the README's Quickstart works as written."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nncli import api
from nncli.split import Split
from nncli.train import evaluate_split

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def training_accuracy(result, config: Path) -> float:
    """Accuracy of the saved model on all four XOR rows."""
    frame = pd.read_csv(config.parent / "data" / "xor.csv")
    return result.trained.evaluate_frame(frame)["accuracy"]


def validation_accuracy(result, config: Path) -> float:
    """Accuracy of the saved model on the config's own validation split (same seed, same split)."""
    valid = api.check(config).datasets.valid
    return evaluate_split(result.trained.model, result.trained.loss, Split(valid.features, valid.targets),
                          ("accuracy",))["accuracy"]


def on_test_split(name: str):
    """A metric of the saved model on the config's test CSV, from summary.json."""
    return lambda result, config: result.summary["test"][name]


# example -> (what is measured, how, the least it must reach)
TARGETS = {
    "xor": ("training accuracy", training_accuracy, 1.0),
    "moons": ("test accuracy", on_test_split("accuracy"), 0.95),
    "iris": ("validation accuracy", validation_accuracy, 0.9),
    "friedman": ("test r2", on_test_split("r2"), 0.95),
    "loans": ("test accuracy", on_test_split("accuracy"), 0.9),
    "branching": ("test accuracy", on_test_split("accuracy"), 0.95),
    "survey": ("test accuracy", on_test_split("accuracy"), 0.8),
    "shops": ("test accuracy", on_test_split("accuracy"), 0.86),
}


def test_every_example_has_a_target():
    # sweep files (configs/*-sweep.yaml) search over an example; the sweep tests check them
    assert sorted(path.stem for path in CONFIGS.glob("*.yaml") if not path.stem.endswith("-sweep")) == sorted(TARGETS)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_example_reaches_its_target(name, tmp_path):
    config = CONFIGS / f"{name}.yaml"
    result = api.train(config, base=tmp_path)
    assert (result.run_dir / "model.npz").is_file()
    what, measure, target = TARGETS[name]
    value = measure(result, config)
    assert value >= target, f"{name}: {what} {value:.4f} < {target}"


def test_shops_embedding_is_smaller_than_its_one_hot_twin(tmp_path):
    # README's figures: the one-hot twin is shops.yaml without its embedding and concat layers
    text = (CONFIGS / "shops.yaml").read_text()
    twin = "\n".join(line for line in text.splitlines() if "type: embedding" not in line and "type: concat" not in line)
    (tmp_path / "twin.yaml").write_text(twin.replace("data/shops", str(CONFIGS / "data" / "shops")))
    embedded, one_hot = api.check(CONFIGS / "shops.yaml"), api.check(tmp_path / "twin.yaml")
    assert (embedded.model.parameter_count(), one_hot.model.parameter_count()) == (2697, 9377)
    assert one_hot.datasets.preprocessor.input_width == 291 and embedded.datasets.preprocessor.input_width == 2


# --- the README's Quickstart ---------------------------------------------------------------------------------

def quickstart_commands(readme: str) -> list[str]:
    """The command lines of the first ```bash block under the Quickstart heading (comments and blanks left out)."""
    section = re.search(r"^#+\s*Quickstart\b.*?$(.*?)(?=^#+\s|\Z)", readme, re.MULTILINE | re.DOTALL | re.IGNORECASE)
    assert section, "README.md has no Quickstart section"
    block = re.search(r"^```bash[ \t]*\n(.*?)^```", section.group(1), re.MULTILINE | re.DOTALL)
    assert block, "README.md's Quickstart has no ```bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.strip().startswith("#")]


def nncli_command() -> list[str]:
    script = Path(sys.executable).with_name("nncli.exe" if os.name == "nt" else "nncli")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nncli"]


def test_readme_quickstart_trains_a_bundled_example(tmp_path):
    readme = REPO / "README.md"
    if not readme.is_file():
        pytest.skip("README.md does not exist yet, so there is no Quickstart to follow")
    commands = quickstart_commands(readme.read_text(encoding="utf-8"))
    assert len(commands) == 2, f"the Quickstart should have exactly two commands, got {commands}"
    assert all("pip install" in command for command in commands), f"each Quickstart command installs: {commands}"
    install_and_train, install_and_test = commands
    assert "nncli train configs/" in install_and_train
    assert "pytest" in install_and_test

    # the train command as written, up to the next shell operator
    train_part = re.search(r"nncli train (configs/[^;&|]*)", install_and_train).group(1)
    arguments = shlex.split(train_part)
    assert (REPO / arguments[0]).is_file(), f"the Quickstart trains {arguments[0]}, which does not exist"

    shutil.copytree(CONFIGS, tmp_path / "configs")
    env = {key: value for key, value in os.environ.items() if key not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run([*nncli_command(), "train", *arguments], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    runs = list((tmp_path / "runs").glob("*/model.npz"))
    assert len(runs) == 1, done.stdout
