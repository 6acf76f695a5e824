"""The record of processing (``docs/privacy.md``) names every column of every table, and
nothing that no longer exists: a column added without saying what it holds, why and how long
it is kept fails here."""

import re
from pathlib import Path

from sqlmodel import SQLModel

import models.tables  # noqa: F401 - the tables register themselves in SQLModel's metadata

RECORD = Path(__file__).resolve().parent.parent / "docs" / "privacy.md"


def recorded() -> dict[str, set[str]]:
    tables: dict[str, set[str]] = {}
    current = None
    for line in RECORD.read_text(encoding="utf-8").splitlines():
        if heading := re.match(r"^### `(\w+)`$", line):
            current = tables.setdefault(heading.group(1), set())
        elif current is not None and (row := re.match(r"^\| `(\w+)` \|", line)):
            current.add(row.group(1))
    return tables


def test_every_table_and_column_is_in_the_record_of_processing():
    stored = {table.name: {column.name for column in table.columns}
              for table in SQLModel.metadata.sorted_tables}
    written = recorded()
    assert sorted(set(stored) - set(written)) == [], "tables missing from docs/privacy.md"
    assert sorted(set(written) - set(stored)) == [], "docs/privacy.md names tables that are gone"
    for table, columns in stored.items():
        assert sorted(columns - written[table]) == [], f"{table}: columns not in the record"
        assert sorted(written[table] - columns) == [], f"{table}: the record names old columns"


def test_each_entry_says_what_why_who_and_how_long():
    for line in RECORD.read_text(encoding="utf-8").splitlines():
        if re.match(r"^\| `\w+` \|", line):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            assert len(cells) == 5 and all(cells), line
