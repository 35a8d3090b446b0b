"""Bounded reading of .npz files that may come from anyone: every header is checked before any array data.

A model or checkpoint may be someone else's file. Its zip directory and each member's .npy header declare the
arrays' sizes; nothing is allocated before those sizes are checked against the file itself: a member must hold
exactly the bytes its header declares, and no member may inflate far beyond its compressed bytes (a zip bomb).
Callers then check the declared shapes against what they expect (a model's architecture) before reading data.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy

from nncli.errors import ModelFileError

MAX_HEADER_BYTES = 10_000  # numpy's own limit for a .npy header it parses safely
MAX_INFLATION = 20  # a deflated member may hold this many times its compressed bytes (real weights: about 1.1)
INFLATION_SLACK = 16 << 20  # ... plus this much: small all-zero arrays compress far better
READABLE_KINDS = "biufcU"  # bool, integers, floats, complex, text: what nncli writes (complex is refused later)
_CHUNK = 1 << 20
_LENGTH_FORMATS = {(1, 0): "<H", (2, 0): "<I"}


@dataclass(frozen=True)
class Member:
    """One array of the archive as its .npy header declares it; its data not read yet."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    info: zipfile.ZipInfo
    data_offset: int  # bytes of .npy header before the array data

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _check_regular(path: Path, name: str) -> None:
    """A zip archive is read by seeking in it: a missing path, a pipe or a device is an error naming it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ModelFileError("no such file", file=name) from None
    except OSError as error:  # a symlink loop, a name too long, no permission
        raise ModelFileError(f"cannot read the file: {error.strerror or error}", file=name) from None
    if not stat.S_ISREG(mode):
        raise ModelFileError("is not a regular file (a pipe, a device or a socket): an .npz file must be a file "
                             "nncli can seek in", file=name)


class NpzFile:
    """An .npz file opened for bounded reading: `members` lists every array's declared shape and dtype.

    Opening reads only the zip directory and the .npy headers; `read(key)` reads one array. Every failure is a
    ModelFileError naming the file and, where one is to blame, the key.
    """

    def __init__(self, path: str | Path, display: str | None = None):
        self.path = Path(path)
        self.name = display or str(path)
        _check_regular(self.path, self.name)
        if not zipfile.is_zipfile(self.path):
            raise ModelFileError("is not a readable .npz file (not a zip archive; maybe truncated or not a model)",
                                 file=self.name)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise ModelFileError(f"is not a readable .npz file, maybe truncated ({error})", file=self.name) from None
        try:
            self.members = self._list_members()
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> NpzFile:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def error(self, key: str | None, message: str) -> ModelFileError:
        """A ModelFileError `FILE: KEY: message`."""
        return ModelFileError(message, file=self.name, field=key)

    def read(self, key: str) -> np.ndarray:
        """The array `key`, read into memory of exactly its declared size."""
        member = self.members[key]
        raw = np.empty(member.nbytes, dtype=np.uint8)
        try:
            with self._zip.open(member.info) as stream:
                _read_exactly(stream, member.data_offset)
                filled = 0
                while filled < member.nbytes:
                    chunk = stream.read(min(_CHUNK, member.nbytes - filled))
                    if not chunk:
                        raise EOFError("the data ends early")
                    raw[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
                    filled += len(chunk)
                if stream.read(1):  # reading to the end also checks the CRC
                    raise ValueError("more data than the header declares")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
            raise self.error(key, f"cannot be read: the file is damaged or truncated ({error})") from None
        if member.dtype.itemsize == 0:
            return np.empty(member.shape, dtype=member.dtype)
        flat = raw.view(member.dtype)
        if member.fortran_order:
            return flat.reshape(member.shape[::-1]).T
        return flat.reshape(member.shape)

    def read_all(self) -> dict[str, np.ndarray]:
        return {key: self.read(key) for key in self.members}

    def _list_members(self) -> dict[str, Member]:
        infos, keys = self._zip.infolist(), set()
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if key == info.filename:
                raise self.error(key, "is not a .npy array; nncli's .npz files hold only .npy arrays")
            if key in keys:
                raise self.error(key, "appears twice in the archive: the file is damaged or was tampered with")
            keys.add(key)
            self._check_entry(key, info)
        compressed = sum(info.compress_size for info in infos)
        if compressed > self.path.stat().st_size:
            raise self.error(None, "is damaged: its zip directory claims more bytes than the file holds")
        inflated = sum(info.file_size for info in infos)
        if inflated > MAX_INFLATION * compressed + INFLATION_SLACK:
            raise self.error(None, f"would inflate from {compressed} to {inflated} bytes: refused as a possible zip "
                                   "bomb (nncli writes uncompressed .npz files)")
        return {info.filename[:-4]: self._read_header(info.filename[:-4], info) for info in infos}

    def _check_entry(self, key: str, info: zipfile.ZipInfo) -> None:
        if info.flag_bits & 0x1:
            raise self.error(key, "is encrypted; nncli reads only plain .npz files")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise self.error(key, "is damaged: its stored and declared sizes differ")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > MAX_INFLATION * info.compress_size + INFLATION_SLACK:
                raise self.error(key, f"would inflate from {info.compress_size} to {info.file_size} bytes: refused "
                                      "as a possible zip bomb (nncli writes uncompressed .npz files)")
        else:
            raise self.error(key, f"uses zip compression method {info.compress_type}; nncli reads stored or "
                                  "deflated members only")

    def _read_header(self, key: str, info: zipfile.ZipInfo) -> Member:
        try:
            with self._zip.open(info) as stream:
                prefix = _read_exactly(stream, npy.MAGIC_LEN)
                if prefix[:-2] != npy.MAGIC_PREFIX:
                    raise self.error(key, "is not a .npy array (it lacks the .npy magic bytes)")
                version = (prefix[-2], prefix[-1])
                if version not in _LENGTH_FORMATS:
                    raise self.error(key, f"has .npy format version {version[0]}.{version[1]}; nncli reads 1.0 "
                                          "and 2.0")
                length_format = _LENGTH_FORMATS[version]
                length_bytes = _read_exactly(stream, struct.calcsize(length_format))
                (length,) = struct.unpack(length_format, length_bytes)
                if length > MAX_HEADER_BYTES:
                    raise self.error(key, f"the .npy header is larger than {MAX_HEADER_BYTES} bytes ({length} "
                                          "bytes): not a file nncli wrote, and not read")
                header = _read_exactly(stream, length)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
            raise self.error(key, f"cannot be read: the file is damaged or truncated ({error})") from None
        reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        try:
            fp = BytesIO(length_bytes + header)
            shape, fortran_order, dtype = reader(fp, max_header_size=MAX_HEADER_BYTES)
        except (ValueError, TypeError, SyntaxError) as error:
            raise self.error(key, f"has a damaged .npy header ({' '.join(str(error).split())})") from None
        member = Member(key, tuple(int(n) for n in shape), np.dtype(dtype), bool(fortran_order), info,
                        len(prefix) + len(length_bytes) + length)
        self._check_declared(member)
        return member

    def _check_declared(self, member: Member) -> None:
        dtype = member.dtype
        if dtype.hasobject:
            raise self.error(member.key, "holds pickled Python objects, which nncli never loads")
        if dtype.kind not in READABLE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise self.error(member.key, f"has dtype {dtype.str!r}, which nncli never writes")
        stored = member.info.file_size - member.data_offset
        if member.nbytes != stored:
            raise self.error(member.key, f"declares shape {member.shape} of {dtype} ({member.nbytes} bytes) but "
                                         f"holds {max(stored, 0)} bytes: the file is damaged")


def _read_exactly(stream: Any, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the member ends early")
    return data


def read_arrays(path: str | Path, display: str | None = None) -> dict[str, np.ndarray]:
    """Every array of an .npz file, each checked against its header and the file before it is read."""
    with NpzFile(path, display) as archive:
        return archive.read_all()
