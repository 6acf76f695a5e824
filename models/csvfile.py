"""Reading the CSV files operators bring (a DTSEN extract, BPJS Ketenagakerjaan's KPJ list):
exported by whatever spreadsheet the office has, so with `,` or `;`, a byte-order mark or not,
and columns named in a few ways, in any order and case, among others we ignore.

A file that cannot be read as such a table (not UTF-8, no header with the columns, a quote
never closed, a field far too long) is refused with one line saying why and where, never a
traceback, and never with a whole NIK or KK number in it: the file is full of them.
"""

import csv
import io
import re
from collections.abc import Iterator, Mapping
from typing import BinaryIO

MAX_FIELD = 10_000
"""The longest field accepted (an address is far shorter); past it the file is refused."""
NUMBER = re.compile(r"\d{16}")


class BadFile(ValueError):
    """The file cannot be imported (or not further): the message says why, in one line."""


def masked(text: str) -> str:
    """``text`` with every 16-digit number (a NIK, a KK) shown as ``1371********0001``."""
    return NUMBER.sub(lambda m: m.group()[:4] + "*" * 8 + m.group()[12:], text)


class Table:
    """The rows of a CSV file after its header, as (line number, fields), and where each
    wanted column is (and each ``optional`` one the header has); ``BadFile`` for a file that
    cannot be read, at the header or later."""

    def __init__(self, raw: BinaryIO, columns: Mapping[str, tuple[str, ...]],
                 optional: Mapping[str, tuple[str, ...]] = {}):
        self.raw = raw
        self.text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        with _readable():
            header_line = self.text.readline()
        self.delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
        header = next(csv.reader([header_line], delimiter=self.delimiter), [])
        names = [name.strip().casefold() for name in header]
        self.positions: dict[str, int] = {}
        for column, accepted in columns.items():
            found = [i for i, name in enumerate(names) if name in accepted]
            if not found:
                raise BadFile(f"the header has no {column} column (one of: "
                              f"{', '.join(accepted)}); it reads: "
                              f"{masked(', '.join(header))[:200]}")
            self.positions[column] = found[0]
        for column, accepted in optional.items():
            found = [i for i, name in enumerate(names) if name in accepted]
            if found:
                self.positions[column] = found[0]

    def batches(self, size: int) -> Iterator[list[tuple[int, list[str]]]]:
        """The rows that are not blank, ``size`` at a time (the last batch may be shorter):
        each applied in a transaction of its own."""
        batch: list[tuple[int, list[str]]] = []
        for line, fields in self:
            if any(field.strip() for field in fields):
                batch.append((line, fields))
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        rows = csv.reader(self.text, delimiter=self.delimiter, strict=True)
        while True:
            with _readable(lambda: rows.line_num + 1):
                fields = next(rows, None)
            if fields is None:
                return
            yield rows.line_num + 1, fields


class _readable:
    """Turns what the csv module and the decoder raise into a ``BadFile`` that says where."""

    def __init__(self, line=None):
        self.line = line

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None:
            return False
        where = f"line {self.line()}: " if self.line else ""
        if isinstance(error, UnicodeDecodeError):
            raise BadFile(f"{where}not UTF-8 text: save it as \"CSV UTF-8\" and import it "
                          f"again (rows already imported stay as they are)") from None
        if isinstance(error, csv.Error):
            text = str(error)
            if "field larger than field limit" in text:
                problem = f"a field longer than {MAX_FIELD} characters"
            elif "unexpected end of data" in text or "EOF" in text:
                problem = "a quote (\") opened and never closed"
            else:
                problem = f"not a CSV row ({masked(text)[:100]})"
            raise BadFile(f"{where}{problem}: the rest of the file was not imported") from None
        return False


csv.field_size_limit(MAX_FIELD)
