"""The shell: storage, the append-only ledger, the HTTP API and the jobs around the core.

Each domain keeps its endpoints, service and repository together (``ledger``, ``catalog``,
``customers``, ``decisions``, ``keys``); only repositories touch SQL, and a request owns its
transaction (``db.transaction``).
"""
