"""The public data sets the tests read, shipped gzip-compressed in ``data/`` (see its README)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def path(name: str) -> Path:
    """The compressed file of a data set, by its plain name (``groceries.csv``)."""
    return DATA / f"{name}.gz"


def rows(name: str) -> list[list[str]]:
    """A data set's lines as CSV rows (header included, when it has one)."""
    with gzip.open(path(name), "rt", newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def records(name: str) -> list[dict[str, str]]:
    """A data set with a header as one dict per row."""
    with gzip.open(path(name), "rt", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
