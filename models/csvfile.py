"""Reading the CSV files operators bring (a DTSEN extract, BPJS Ketenagakerjaan's KPJ list):
exported by whatever spreadsheet the office has, so with `,` or `;`, a byte-order mark or not,
and columns named in a few ways, in any order and case, among others we ignore."""

import csv
from collections.abc import Iterator, Mapping
from typing import TextIO


class BadFile(ValueError):
    """The file cannot be imported at all (e.g. its header lacks a column)."""


def read_table(text: TextIO, columns: Mapping[str, tuple[str, ...]]
               ) -> tuple[Iterator[list[str]], dict[str, int]]:
    """The rows after the header (a ``csv.reader``: its ``line_num`` counts from the header),
    and where each wanted column is; ``BadFile`` when the header lacks one."""
    header_line = text.readline()
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    header = next(csv.reader([header_line], delimiter=delimiter), [])
    names = [name.strip().casefold() for name in header]
    positions = {}
    for column, accepted in columns.items():
        found = [i for i, name in enumerate(names) if name in accepted]
        if not found:
            raise BadFile(f"the header has no {column} column (one of: {', '.join(accepted)}); "
                          f"it reads: {', '.join(header)}")
        positions[column] = found[0]
    return csv.reader(text, delimiter=delimiter), positions
