"""Reading a CSV file a person names, a record at a time: only a regular file, only up to a size, each line
up to a length, as UTF-8 (with or without a byte order mark) or Windows-1252, quoted commas and line breaks
as RFC 4180 has them, CRLF or LF.

Memory does not grow with the file: the text is decoded and parsed as it is read. The file's SHA-256 is taken
from the bytes as they pass, so that a second reading can show it read the same file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cycle import files
from cycle.errors import BadInput
from cycle.files import Unreadable

#: The largest register cycle reads: 100,000 contracts of about 300 bytes each.
MAX_BYTES = 32 * 1024 * 1024
#: The longest line, in bytes (a row of a register is a few hundred).
MAX_LINE = 65_536
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "windows-1252")
_CODECS = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "windows-1252": "cp1252"}
_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with a byte order mark", "cp1252": "Windows-1252"}


class _Hashing(io.RawIOBase):
    """The file's bytes as they are read, each added to the digest and counted (a file growing as it is read
    stops at MAX_BYTES)."""

    def __init__(self, fd: int, path: str, limit: int):
        self.fd, self.path, self.limit = fd, path, limit
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n = os.readv(self.fd, [buffer])
        except OSError as exc:
            raise Unreadable(self.path, f"cannot read the file ({exc.strerror})") from None
        self.size += n
        if self.size > self.limit:
            raise Unreadable(self.path, f"more than {self.limit:,} bytes, more than a register may have; split it")
        self.digest.update(memoryview(buffer)[:n])
        return n

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


def _open(path: str, limit: int) -> _Hashing:
    fd, st = files.open_regular(path, "the register, a CSV file")
    if st.st_size > limit:
        os.close(fd)
        raise Unreadable(path, f"{st.st_size:,} bytes, more than a register may have ({limit:,}); split it")
    return _Hashing(fd, path, limit)


@dataclass
class Record:
    """One row of the register: the line it starts on and its cells by column name."""

    line: int
    cells: dict[str, str]


@dataclass
class Reading:
    """One reading of the file: its header, then its records (`records`), and, once they are all read, its
    SHA-256 and the encoding it was read in."""

    path: str
    encoding: str
    delimiter: str
    header: list[str] = field(default_factory=list)
    sha256: str = ""
    codec: str = ""  # the encoding it was read in, in words

    def records(self) -> Iterator[Record]:
        """Every record after the header; a problem is BadInput naming the line."""
        codec = _CODECS.get(self.encoding) or self._sniff()
        self.encoding = {v: k for k, v in _CODECS.items()}[codec]  # a second reading reads it the same way
        yield from self._records(codec)

    def _sniff(self) -> str:
        """auto: UTF-8 (a byte order mark or not) if the whole file decodes as UTF-8, else Windows-1252; but a file
        with UTF-8 text on one line and bytes that are not on another mixes the two, and is refused."""
        raw = _open(self.path, MAX_BYTES)
        try:
            buffered = io.BufferedReader(raw, 65536)
            if buffered.peek(3)[:3] == b"\xef\xbb\xbf":
                return "utf-8-sig"
            n, utf8, bad = 0, 0, None
            while data := buffered.readline(MAX_LINE + 1):
                n += 1
                if data.isascii():
                    continue
                try:
                    data.decode("utf-8")
                    utf8 = utf8 or n
                except UnicodeDecodeError as exc:
                    bad = bad or (n, data[exc.start])
                if utf8 and bad:
                    raise BadInput(f"line {bad[0]}: byte 0x{bad[1]:02x} is not UTF-8 text, though line {utf8} is: "
                                   f"{self.path} mixes encodings; save it again as CSV UTF-8")
            return "cp1252" if bad else "utf-8"
        finally:
            raw.close()

    def _records(self, codec: str) -> Iterator[Record]:
        raw = _open(self.path, MAX_BYTES)
        try:
            head = os.pread(raw.fd, 4, 0)
            if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
                raise Unreadable(self.path, "UTF-16 text; save it as CSV UTF-8 and import that")
            lines = _Lines(io.BufferedReader(raw, 65536), self.path, codec)
            reader = csv.reader(lines, delimiter=self.delimiter, strict=False)
            started = 1
            try:
                header = next(reader, None)
                if header is None:
                    raise BadInput(f"{self.path} is empty: a register starts with a header line naming its columns")
                self.header = [h.strip().lstrip("\ufeff").strip() for h in header]
                started = reader.line_num + 1
                for cells in reader:
                    line = started
                    started = reader.line_num + 1
                    if not any(c.strip() for c in cells):
                        continue  # a blank line
                    if len(cells) != len(self.header):
                        raise BadInput(f"line {line} has {len(cells)} fields, the header line {len(self.header)}: "
                                       f"{_SEPARATOR.get(self.delimiter, repr(self.delimiter))} outside quotes, or a "
                                       f"quote not closed? Correct it in {self.path}")
                    yield Record(line, dict(zip(self.header, cells, strict=True)))
            except csv.Error as exc:
                if "new-line character" in str(exc):
                    raise BadInput(f"line {started}: a line ends with a carriage return alone (an old Mac line end); "
                                   f"save {self.path} again as CSV, with CRLF or LF line ends") from None
                raise BadInput(f"line {started}: {exc}; correct it in {self.path}") from None
            self.sha256 = raw.digest.hexdigest()
            self.codec = _NAMES[codec]
        finally:
            raw.close()


class _Lines:
    """The file's lines as text, each at most MAX_LINE bytes, counted; a NUL or a byte that is not text in the
    encoding names its line (each line is decoded on its own, so the line named is the line it is on)."""

    def __init__(self, raw: io.BufferedReader, path: str, codec: str):
        self.raw, self.path, self.codec = raw, path, codec
        self.n = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        data = self.raw.readline(MAX_LINE + 1)
        if not data:
            raise StopIteration
        self.n += 1
        if len(data) > MAX_LINE:
            raise BadInput(f"line {self.n} is longer than {MAX_LINE:,} bytes; is {self.path} a CSV file (a register)?")
        try:
            line = data.decode(self.codec)
        except UnicodeDecodeError as exc:
            raise BadInput(f"line {self.n}: byte 0x{data[exc.start]:02x} is not {_NAMES[self.codec]} text; is "
                           f"{self.path} a CSV file? Save it as CSV UTF-8, or name its encoding in the mapping "
                           f"([format] encoding)") from None
        if "\x00" in line:
            raise BadInput(f"line {self.n} holds a NUL character; is {self.path} a CSV file (a register)?")
        return line


def reading(path: str | Path, encoding: str = "auto", delimiter: str = ",") -> Reading:
    """A reading of the file at `path` (nothing is read until `records` is iterated)."""
    return Reading(str(path), encoding, delimiter)


#: How a line's field count names the mapping's delimiter (`[format] delimiter`).
_SEPARATOR = {",": "a comma", ";": "a semicolon", "\t": "a tab", "|": "a '|'"}
