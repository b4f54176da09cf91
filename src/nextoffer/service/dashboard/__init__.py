"""The dashboard: sign-in, proposals, rules, catalog, journeys, decisions, results and
overview pages.

- ``pages/`` — one module per section, each with its ``router``; ``pages.ROUTERS`` is their
  order; ``pages/common.py`` holds what they share (the viewer, ids, the read session, the
  live snapshot).
- ``navigation`` — the top bar's sections (label, path, roles, the pages that mark them).
- ``views`` — the plumbing: sessions' cookies, the CSRF guard, security headers, rendering.
- ``endpoints`` — the pages under ``/dashboard`` behind the guard, and ``install``.
- ``service`` and ``repository`` — the pages' numbers; only ``repository`` holds SQL.
- ``graph`` — a journey's graph of steps laid out for its page (drawn by its template).
- ``sessions`` — the sign-in sessions and the CSRF tokens.

A new page: a module in ``pages/`` with its router (listed in ``pages.ROUTERS``), its
template, and, if it belongs in the top bar, one ``Section`` in ``navigation.SECTIONS``.
"""
