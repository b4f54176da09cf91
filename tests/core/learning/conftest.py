from __future__ import annotations

import csv
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def baskets(name: str) -> list[frozenset[str]]:
    """A data set of ``../shared/data`` as baskets; the test skips when it is absent."""
    path = DATA / name
    if not path.is_file():
        pytest.skip(
            f"{path} is absent: the real-data checks need ../shared/data beside the project"
        )
    with path.open(newline="") as f:
        return [frozenset(row) for row in csv.reader(f)]


@pytest.fixture(scope="session")
def groceries() -> list[frozenset[str]]:
    return baskets("groceries.csv")


@pytest.fixture(scope="session")
def online_retail() -> list[frozenset[str]]:
    return baskets("online_retail_baskets.csv")
