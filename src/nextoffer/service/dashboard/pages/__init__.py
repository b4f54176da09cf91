"""The dashboard's pages, one module per section, each with its ``router`` (paths under
``/dashboard``). ``ROUTERS`` is the order in which their routes are matched (a fixed path
such as ``/rules/new`` before ``/rules/{rule_id}``); the top bar's entries are
``navigation.SECTIONS``."""

from __future__ import annotations

from fastapi import APIRouter

from . import (
    catalog,
    decisions,
    editor,
    evaluate,
    journeys,
    overview,
    proposals,
    results,
    rules,
    sign_in,
    strategies,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    sign_in.router,
    overview.router,
    proposals.router,
    editor.router,
    rules.router,
    catalog.router,
    journeys.router,
    decisions.router,
    results.router,
    evaluate.router,
    strategies.router,
)
