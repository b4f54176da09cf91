"""``JourneyError``: what the journey core refuses, naming the field at fault.

Compiling a definition gathers every problem it finds (``steps[2].next: unknown step 'foo'
(steps: lead, wait_lead)``, a condition's own message with its line and caret) into one
error, like ``SnapshotError``; an input the step function cannot take (a time without an
offset, an enrollment of another version) or a record that does not fit (a transition out of
order) is one problem.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..decision.snapshot import render
from ..errors import NextofferError
from ..rules import Diagnostic

__all__ = ["JourneyError"]


class JourneyError(NextofferError):
    """A journey definition that cannot be compiled, or an input or record a journey cannot
    take. ``diagnostics`` lists every problem with its place; ``field`` and ``message`` are
    the first one's, ``str(exc)`` says them all."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        assert diagnostics
        self.diagnostics = list(diagnostics)
        first = self.diagnostics[0]
        text = "\n".join(render(d) for d in self.diagnostics)
        super().__init__(first.path, first.message, text=text)

    @classmethod
    def one(cls, field: str, message: str) -> JourneyError:
        """The error of a single problem at ``field``."""
        return cls([Diagnostic(message, field)])
