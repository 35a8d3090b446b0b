"""The typer app and what every command shares: the `error:` paragraph and exit codes, safe writes to stdout.

Heavy modules (numpy, pandas, the core) are imported inside the commands so `nncli --help` starts fast.
"""

from __future__ import annotations

import contextlib
import errno
import sys
import warnings
from collections.abc import Iterator

import typer
from typer.core import TyperArgument, TyperCommand

from nncli import __version__


class PlainUsageCommand(TyperCommand):
    """A command whose usage line shows required arguments bare (`CONFIG.yaml`), not typer's `{CONFIG.yaml}`."""

    def collect_usage_pieces(self, ctx: typer._click.Context) -> list[str]:  # typer's click, not re-exported
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.display_name_raw if param.required else f"[{param.display_name_raw}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class NncliTyper(typer.Typer):
    """The app: every command gets the plain usage line unless it asks for another class."""

    def command(self, *args, cls: type[TyperCommand] | None = PlainUsageCommand, **kwargs):
        return super().command(*args, cls=cls, **kwargs)


# rich_markup_mode=None: plain click help, without importing typer's rich help renderer (0.1 s of start-up)
app = NncliTyper(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                 context_settings={"help_option_names": ["-h", "--help"]},
                 help="Train, evaluate and use neural networks on tabular data from a YAML config.")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"nncli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                 help="Print nncli's version and exit."),
) -> None:
    """Train, evaluate and use neural networks on tabular data from a YAML config."""

DEBUG_HELP = "Show the Python traceback of an error."
DATA_HELP = "CSV file (or .csv.gz/.bz2/.xz/.zst, .parquet, or - for CSV on stdin)"
# What the system says of a path as given (too long, a loop, a file where a directory should be): bad usage.
PATH_ERRORS = {errno.ENAMETOOLONG, errno.ELOOP, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM}


@contextlib.contextmanager
def user_errors(debug: bool) -> Iterator[None]:
    """Turn nncli's errors into one `error:` paragraph on stderr and SPEC's exit code.

    Without `--debug`, Python warnings are not shown either: what matters reaches the user as an error.
    """
    from nncli.errors import NncliError, one_paragraph

    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.simplefilter("ignore")
            yield
    except NncliError as error:
        if debug:
            raise
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code) from None
    except typer.Exit:
        raise
    except BrokenPipeError:  # the program reading standard output exited (`nncli predict ... | head -1`)
        if debug:
            raise
        from nncli.console import silence_stdout

        silence_stdout()
        typer.echo("error: standard output was closed before everything was written (the program reading it "
                   "exited)", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        if debug:
            raise
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception as error:  # a bug or an environment failure: short message, exit 1
        if debug:
            raise
        if isinstance(error, OSError) and error.filename is not None:  # e.g. a path too long to even look at
            typer.echo(f"error: {one_paragraph(f'{error.filename}: {error.strerror or error}')}", err=True)
            raise typer.Exit(2 if error.errno in PATH_ERRORS else 1) from None
        message = one_paragraph(" ".join(f"{type(error).__name__}: {error}".split()))
        typer.echo(f"error: {message} (run again with --debug for the traceback)", err=True)
        raise typer.Exit(1) from None


def write_stdout(text: str, chunk: int = 1 << 16) -> None:
    """Write and flush `text` on stdout, so that a closed pipe is an error here and not a report at exit.

    In pieces: one large write that a closing pipe cuts short can return as if all was written (seen with
    Python 3.11's buffered writer); the next piece then fails.
    """
    for start in range(0, len(text), chunk):
        sys.stdout.write(text[start:start + chunk])
    sys.stdout.flush()


