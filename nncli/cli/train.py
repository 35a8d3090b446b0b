"""`nncli train`: a config's run as events, shown as they come; Ctrl-C and SIGTERM stop with a checkpoint."""

from __future__ import annotations

import contextlib
import shlex
import signal
from collections.abc import Iterator
from pathlib import Path

import typer

from nncli.cli.app import DEBUG_HELP, app, user_errors


def resume_command(config: Path, run_dir: Path | None, overrides: list[str]) -> str:
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
    def installed(self) -> Iterator[StopRequests]:
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
    out: Path | None = typer.Option(None, "--out", metavar="DIR", help="Run directory (default: runs/<name>[-k])."),
    overrides: list[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                        help="Override a config value: KEY=VALUE (dotted path)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", help="Print only errors."),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines on stdout: one object per epoch (a metrics.csv "
                                                       "row), then {\"summary\": ...}; nothing else."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Train the network a config describes and save the run directory.

    Ctrl-C (or SIGTERM) stops at the next batch with a checkpoint for --resume; a second Ctrl-C stops at once.
    """
    with user_errors(debug):
        from nncli import api, runs
        from nncli.console import JsonLinesSession, TrainingSession

        stops = StopRequests()
        session = JsonLinesSession() if as_json else TrainingSession.on_stdout(quiet)
        summary: dict = {}
        history: list[dict] = []
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
                            summary, history = result.summary, result.history
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
        session.finish(summary, history)
