"""The `nncli` command: one thin typer command per verb over `nncli.api`.

Heavy modules (numpy, pandas, the core) are imported inside the commands so `nncli --help` starts fast.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import signal
import sys
import warnings
from pathlib import Path
from typing import Iterator, List, Optional

import typer

# rich_markup_mode=None: plain click help, without importing typer's rich help renderer (0.1 s of start-up)
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Train, evaluate and use neural networks on tabular data from a YAML config.")

DEBUG_HELP = "Show the Python traceback of an error."


@contextlib.contextmanager
def user_errors(debug: bool) -> Iterator[None]:
    """Turn nncli's errors into one `error:` paragraph on stderr and SPEC's exit code.

    Without `--debug`, Python warnings are not shown either: what matters reaches the user as an error.
    """
    from nncli.errors import NncliError

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
        message = " ".join(f"{type(error).__name__}: {error}".split())
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


def resume_command(config: Path, run_dir: Path | None, overrides: List[str]) -> str:
    """The command line that continues an interrupted run (the same config and overrides)."""
    words = ["nncli", "train", str(config), "--out", str(run_dir), "--resume"]
    for override in overrides:
        words += ["--set", override]
    return shlex.join(words)


class StopRequests:
    """First SIGINT/SIGTERM: stop at the next batch boundary. A second SIGINT: stop at once."""

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self.aborted = False

    def __call__(self) -> bool:
        return self.signal_number is not None

    def _handle(self, signal_number: int, frame: object) -> None:
        if self.signal_number is None:
            self.signal_number = signal_number  # the first signal decides the exit code (130 or 143)
        elif signal_number == signal.SIGINT:
            self.aborted = True
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator["StopRequests"]:
        previous = {number: signal.signal(number, self._handle) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                # after a stop at once, more Ctrl-C must not break the exit message with a traceback
                signal.signal(number, signal.SIG_IGN if self.aborted and number == signal.SIGINT else handler)


@app.command()
def train(
    config: Path = typer.Argument(..., metavar="CONFIG.yaml", help="The YAML config file."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="Run directory (default: runs/<name>[-k])."),
    overrides: List[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                        help="Override a config value: KEY=VALUE (dotted path)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", help="Print only errors."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Train the network a config describes and save the run directory.

    Ctrl-C (or SIGTERM) stops at the next batch with a checkpoint for --resume; a second Ctrl-C stops at once.
    """
    with user_errors(debug):
        from nncli import api, runs
        from nncli.console import TrainingSession

        stops = StopRequests()
        session = TrainingSession.on_stdout(quiet)
        summary: dict = {}
        try:
            events = api.run(config, out, overrides, resume, should_stop=stops, on_batch=session.batch_done)
            with stops.installed(), contextlib.closing(events):
                for event in events:
                    match event:
                        case api.RunStarted(prepared=prepared, run_dir=run_dir, first_epoch=first_epoch):
                            session.start(prepared, run_dir, first_epoch)
                        case api.EpochFinished(record=record):
                            session.epoch_done(record)
                        case api.RunStopped(message=message):
                            session.close()
                            typer.echo(f"interrupted ({message}): checkpoint saved; continue with: "
                                       f"{resume_command(config, session.run_dir, overrides)}", err=True)
                            raise typer.Exit(143 if stops.signal_number == signal.SIGTERM else 130)
                        case api.RunDiverged(message=message):
                            raise api.Diverged(message)
                        case api.RunFinished(result=result):
                            summary = result.summary
        except KeyboardInterrupt:  # the second Ctrl-C: out at once, the last checkpoint written stays
            session.close()
            if debug:
                raise
            hint = "no checkpoint was written"
            if session.run_dir is not None and (session.run_dir / runs.CHECKPOINT_FILE).is_file():
                hint = f"continue from the last checkpoint with: {resume_command(config, session.run_dir, overrides)}"
            typer.echo(f"error: interrupted at once; {hint}", err=True)
            raise typer.Exit(130) from None
        finally:
            session.close()
        session.finish(summary)


DATA_HELP = "CSV file (or .csv.gz/.bz2/.xz/.zst, .parquet, or - for CSV on stdin)"


@app.command()
def predict(
    model: Path = typer.Argument(..., metavar="MODEL", help="A run directory or a model.npz file."),
    data: Path = typer.Argument(..., metavar="DATA", help=f"{DATA_HELP} with the feature columns."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="OUT.csv",
                                          help="Write the CSV here: a new or regular file, never an input "
                                               "(default, or - : stdout)."),
    keep: List[str] = typer.Option([], "--keep", metavar="COL,...",
                                   help="Copy these input columns (as written) in front of the predictions."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Predict with a saved model; one column per target and, for classification, prob_<class> columns."""
    with user_errors(debug):
        from nncli import api, outputs, runs
        from nncli.console import show_warnings

        inputs = {"data": data, "model": runs.model_path(model)}
        file = None if output is None or outputs.is_stdout(output) else output
        if file is not None:
            outputs.check_output_file(file, inputs)
        predictions = api.predict(model, data, keep=column_list(keep))
        show_warnings(predictions.attrs.get("warnings", []))
        text = predictions.to_csv(index=False)
        if file is None:
            write_stdout(text)
        else:
            outputs.check_output_file(file, inputs)  # again: the path may have changed while predicting
            runs.write_text(file, text)


def column_list(values: List[str]) -> list[str]:
    """`--keep id,name --keep city` as `[id, name, city]`; an empty name is a usage error."""
    from nncli.errors import NncliError

    names = [name.strip() for value in values for name in value.split(",")]
    if any(not name for name in names):
        raise NncliError(f"expected column names separated by commas, got {','.join(values)!r}", field="--keep")
    return names


@app.command("eval")
def evaluate(
    model: Path = typer.Argument(..., metavar="MODEL", help="A run directory or a model.npz file."),
    data: Path = typer.Argument(..., metavar="DATA", help=f"{DATA_HELP} with the feature and target columns."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object for scripts."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Evaluate a saved model on labelled data: loss, the task's metrics and the config's, rows scored and skipped."""
    with user_errors(debug):
        from nncli import api, display
        from nncli.console import make_console, show_warnings
        from nncli.metrics import json_ready

        trained = api.load_model(model)
        report = api.evaluate_model(trained, data)
        show_warnings(report.pop("warnings", []))
        if as_json:
            write_stdout(json.dumps(json_ready(report), allow_nan=False) + "\n")
            return
        console = make_console()
        for renderable in display.evaluation_renderables(report, trained.task,
                                                         [str(c) for c in trained.preprocessor.classes]):
            console.print(renderable)


@app.command()
def check(
    config: Path = typer.Argument(..., metavar="CONFIG.yaml", help="The YAML config file."),
    overrides: List[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                        help="Override a config value: KEY=VALUE (dotted path)."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Validate config and data and print the model summary; trains nothing, writes nothing."""
    with user_errors(debug):
        from nncli import api, display
        from nncli.console import data_summary, make_console, show_warnings

        prepared = api.check(config, overrides)
        show_warnings(prepared.datasets.warnings)
        console = make_console()
        console.print(data_summary(prepared))
        console.print(display.model_summary_table(prepared.model.summary_rows(),
                                                  prepared.model.parameter_count()))


def main() -> None:
    app()
