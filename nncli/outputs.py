"""Where `predict` may write: checked before any work, so that no input or special file is ever replaced."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from nncli.errors import NncliError
from nncli.runs import RUN_FILES, RUN_MARKER, working_directory

STDOUT_NAMES = ("-", "/dev/stdout")
VALID_OUTPUT = "a new file or a regular file, or - (or /dev/stdout) for standard output"


def is_stdout(path: Path | str) -> bool:
    """`-o -` and `-o /dev/stdout` mean standard output (written to, never replaced by a file)."""
    return str(path) in STDOUT_NAMES


def check_output_file(path: Path, inputs: Mapping[str, Path] = {}) -> None:
    """Refuse an output path nncli must not write, before any work is done (a usage error).

    Valid: a new file in an existing directory, or a writable regular file that is none of `inputs` (role ->
    path, compared by device and inode: other spellings and hard links count) and no run file of a run
    directory. A symbolic link, a device, a FIFO or a socket is never replaced by a file.
    """
    path = Path(path)
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        _check_parent_directory(path)
        return
    except OSError as error:
        raise NncliError(f"cannot write the file: {error.strerror or error}", file=str(path)) from None
    if stat.S_ISDIR(status.st_mode):
        raise NncliError("is a directory; give a file name for the output, such as predictions.csv",
                         file=str(path))
    if stat.S_ISLNK(status.st_mode):
        raise NncliError(f"is a symbolic link (to {os.readlink(path)!r}); nncli writes a new file and renames it "
                         f"into place, which would replace the link: the output must be {VALID_OUTPUT}",
                         file=str(path))
    if not stat.S_ISREG(status.st_mode):
        raise NncliError(f"is a {_special_kind(status.st_mode)}, not a regular file; the output must be "
                         f"{VALID_OUTPUT}", file=str(path))
    for role, source in inputs.items():
        if _same_file(status, source):
            raise NncliError(f"is the {role} file {str(source)!r}: nncli never writes over its inputs; give "
                             "another output file", file=str(path))
    if path.name in RUN_FILES and (path.parent / RUN_MARKER).is_file():
        raise NncliError("is a file of an nncli run directory; give an output file outside the run's files",
                         file=str(path))
    if not status.st_mode & 0o222 or not os.access(path, os.W_OK):  # read-only is a no, even to root
        raise NncliError("is read-only; nncli does not replace a file it may not write", file=str(path))


def _check_parent_directory(path: Path) -> None:
    if not path.is_absolute():
        working_directory("the output goes", "-o with a full path")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise NncliError(f"cannot write the file: the directory {str(parent)!r} {what}", file=str(path))


def _special_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))
    return next((name for test, name in kinds if test(mode)), "special file")


def _same_file(status: os.stat_result, other: Path) -> bool:
    try:
        other_status = os.stat(other)
    except (OSError, ValueError):  # not there (or stdin's "-"): it cannot be the output
        return False
    return (status.st_dev, status.st_ino) == (other_status.st_dev, other_status.st_ino)
