"""What every command shares: `--version`, `-h`, installable shell completion, usage lines without braces."""

import os
import subprocess
import sys

import pytest

from nncli import __version__
from nncli.cli import app
from tests.test_cli import cli_env, invoke

COMMANDS = sorted(command.name or command.callback.__name__ for command in app.registered_commands)


def test_version_prints_the_package_version():
    assert invoke("--version").stdout == f"nncli {__version__}\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_short_help_on_every_command_and_usage_without_braces(command):
    short, long = invoke(command, "-h").stdout, invoke(command, "--help").stdout
    assert short == long
    usage = short.splitlines()[0]
    assert usage.startswith("Usage: ") and "{" not in usage and "}" not in usage, usage


def test_usage_shows_required_arguments_bare_and_optional_ones_in_brackets():
    assert invoke("check", "-h").stdout.splitlines()[0].endswith("check [OPTIONS] CONFIG.yaml")
    assert invoke("predict", "-h").stdout.splitlines()[0].endswith("predict [OPTIONS] MODEL DATA")


def test_top_level_help_offers_completion_and_short_help():
    shown = invoke("-h").stdout
    for option in ("--install-completion", "--show-completion", "--version", "-h, --help"):
        assert option in shown


def test_completion_script_and_completion_of_command_names():
    env = cli_env() | {"_NNCLI_COMPLETE": "complete_bash", "COMP_WORDS": "nncli tr", "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-c", "from nncli.cli import app; app(prog_name='nncli')"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.split() == ["train"], done.stderr



@pytest.mark.parametrize(("shell", "marker"),
                         [("bash", "complete -o"), ("zsh", "#compdef"), ("fish", "complete --command")])
def test_show_completion_prints_each_shells_script(shell, marker):
    env = cli_env() | {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}  # the shell by name, not detected
    shown = subprocess.run([sys.executable, "-m", "nncli", "--show-completion", shell], env=env,
                           capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0 and marker in shown.stdout, shown.stderr


def test_version_in_a_real_process():
    done = subprocess.run([sys.executable, "-m", "nncli", "--version"], env=cli_env(), capture_output=True,
                          text=True, timeout=60, check=False, cwd=os.getcwd())
    assert (done.returncode, done.stdout, done.stderr) == (0, f"nncli {__version__}\n", "")
