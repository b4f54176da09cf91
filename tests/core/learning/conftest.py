from __future__ import annotations

import pytest

from tests import data


def baskets(name: str) -> list[frozenset[str]]:
    """A data set of ``data/`` as baskets."""
    return [frozenset(row) for row in data.rows(name)]


@pytest.fixture(scope="session")
def groceries() -> list[frozenset[str]]:
    return baskets("groceries.csv")


@pytest.fixture(scope="session")
def online_retail() -> list[frozenset[str]]:
    return baskets("online_retail_baskets.csv")
