"""Where a batch command runs (``--engine local|spark``) and on which Spark master
(``--master``): the option and its checks, declared once for every command that takes them
(``mine``, ``uplift train``, ``uplift score``, ``campaign run``)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..jobs.spark.session import master_problem
from .output import fail

__all__ = ["ENGINES", "Master", "check_engine"]

ENGINES = ("local", "spark")

Master = Annotated[
    str | None,
    typer.Option(
        help="Spark master for --engine spark (local[2], spark://host:7077, yarn …); "
        "default: spark-submit's, else local[*]."
    ),
]


def check_engine(engine: str, master: str | None) -> None:
    """``--engine`` is one of ``ENGINES``; ``--master`` comes only with ``--engine spark``
    and is a master Spark can use; else the command stops naming the option."""
    if engine not in ENGINES:
        fail(f"--engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    if master is not None and engine != "spark":
        fail("--master: only with --engine spark")
    if master is not None and (problem := master_problem(master)) is not None:
        fail(f"--master: {problem}")
