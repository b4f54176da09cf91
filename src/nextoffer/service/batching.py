"""Concurrent requests on one event loop share one database statement.

A worker answering many decisions at once would otherwise send one statement per request,
and each statement costs a round trip through SQLAlchemy, the driver and the server: about
as much as the engine's whole decision. ``Coalescer`` is the database's "group commit"
applied to the reads and writes of the decision path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import sqlalchemy as sa

__all__ = ["Coalescer"]

T = TypeVar("T")
R = TypeVar("R")


def _lost_connection(exc: BaseException) -> bool:
    return isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated


class Coalescer(Generic[T, R]):
    """Calls ``run(items)`` with the items of every caller waiting at the time.

    The first caller starts a batch at once; callers that arrive while it runs wait and go
    together in the next one (at most ``limit`` a batch). At light load a batch is one item
    and nobody waits for a timer; under load the statements, their round trips and their
    commits are shared. ``run`` returns one result per item, in order.

    When a batch fails, its items are tried one by one, so a bad item fails only its own
    caller; a lost database connection fails the whole batch (each caller answers 503).
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]], limit: int = 64) -> None:
        self._run, self._limit = run, limit
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._limit]
                del self._waiting[: self._limit]
                await self._settle(batch)
        finally:
            self._task = None

    async def _settle(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and not _lost_connection(exc):
                for one in batch:
                    await self._settle([one])
                return
            for _, future in batch:
                if not future.done():  # its caller may have gone (a cancelled request)
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
