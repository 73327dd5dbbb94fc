"""Prebuilt statements run straight on a DBAPI connection the writer holds: the webhook
hot path.

Every webhook is one write of the same few statements. Through a SQLAlchemy
``Connection`` each execution builds an execution context, looks the compiled statement
up in the cache, runs the parameters through the type system and fires the engine's
events: on a two-core machine that cost more CPU than the database's own work (see
docs/performance.md, "Intake in groups, on a held DBAPI connection"). Here SQLAlchemy
still does what it is good at — building the statement from the table definitions,
compiling it for the dialect, and the types' bind processors (so a datetime is stored
exactly as the rest of the code reads it back) — but once per process
(:class:`RowsStatement`); each call is then a tuple and the driver's ``execute``.

What a ``Connection`` gave us besides, and how it is kept here:

- **Opening connections**: through the pool (``engine.raw_connection()``), so the engine's
  connect hooks run; :class:`HeldConnection` keeps it, pings it when it has been idle
  for long, and opens its own in a forked child.
- **Lost connections**: a driver error is raised as SQLAlchemy's ``DBAPIError`` with
  ``connection_invalidated`` set when the dialect recognises a dropped connection (its own
  ``is_disconnect``), exactly as a ``Connection`` raises it, and the connection is
  replaced.

Nothing else in the store uses this; it is for writes that run on every request.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable


class RowsStatement:
    """A multi-row statement compiled once for a dialect with positional parameters
    (SQLite's ``?``) whose bind parameters are all named ``<key>_<row>`` (``source_0``,
    ``source_1``, …). :meth:`parameters` takes one mapping per row and returns the
    driver's tuple, each value through its column type's bind processor (so a datetime is
    stored exactly as SQLAlchemy stores it). A missing key is a ``KeyError`` naming it: a
    programming error, caught by the first test that runs the statement."""

    def __init__(self, statement: Executable, engine: Engine):
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        if not compiled.positional or any(not bind.required for bind in compiled.binds.values()):
            raise ValueError("RowsStatement needs positional parameters, every one given per row")
        self.sql: str = str(compiled)
        self._plan: list[tuple[int, str, Callable[[Any], Any] | None]] = []
        for name in compiled.positiontup:
            key, _, row = name.rpartition("_")
            self._plan.append((int(row), key, compiled.binds[name].type.bind_processor(dialect)))

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> tuple:
        return tuple(processor(rows[row][key]) if processor else rows[row][key]
                     for row, key, processor in self._plan)


class HeldConnection:
    """A connection taken out of ``engine``'s pool for good, for a writer that is never
    more than one thread at a time (the intake's group writer): no checkout and return
    around every write, and on PostgreSQL no switching of the connection's mode.

    - It is opened through the pool, so the engine's connect hooks (SQLite's PRAGMAs) have
      run on it, then detached from the pool. ``autocommit`` (PostgreSQL): every statement
      commits on its own, set once when the connection is opened.
    - Used again after more than ``IDLE_PING_SECONDS`` idle, it is pinged first and
      replaced if dead (as the pool does with its connections: idle connections are the
      ones a restart or a proxy has killed).
    - A forked child opens its own and leaves the parent's alone.
    - A block that raises has its transaction rolled back. A lost connection (or one
      that cannot roll back) is dropped; the next use opens a new one. Driver errors are
      raised as SQLAlchemy's ``DBAPIError``, with ``connection_invalidated`` set for a lost
      connection, as a SQLAlchemy ``Connection`` raises them.
    """

    def __init__(self, engine: Engine, *, autocommit: bool = False):
        self._engine = engine
        self._autocommit = autocommit
        self._conn: Any = None  # the DBAPI connection
        self._pid = 0
        self._last_used = 0.0

    @contextmanager
    def use(self) -> Iterator[Any]:
        conn = self._connection()
        dbapi = self._engine.dialect.loaded_dbapi
        try:
            yield conn
        except BaseException as error:
            lost = isinstance(error, dbapi.Error) and self._engine.dialect.is_disconnect(error, conn, None)
            if not lost:
                try:
                    conn.rollback()
                except dbapi.Error:
                    lost = True
            if lost:
                self._drop()
            if isinstance(error, dbapi.Error):
                raise _as_sqlalchemy_error(self._engine, error, lost) from error
            raise
        finally:
            self._last_used = time.monotonic()

    def close(self) -> None:
        """Close the connection (in the process that opened it; a forked child only
        forgets the one it inherited)."""
        if self._pid == os.getpid():
            self._drop()
        self._conn = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit modules may be gone
            pass

    def _connection(self) -> Any:
        from connector import store

        if self._conn is not None and self._pid == os.getpid():
            if time.monotonic() - self._last_used <= store.IDLE_PING_SECONDS:
                return self._conn
            try:
                self._engine.dialect.do_ping(self._conn)
                return self._conn
            except Exception:  # noqa: BLE001 - dead: open a fresh one below
                self._drop()
        fairy = self._engine.raw_connection()
        conn = fairy.dbapi_connection
        fairy.detach()
        if self._autocommit:
            conn.autocommit = True
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                conn.close()
        except Exception:  # noqa: BLE001 - it is being thrown away because it is broken
            pass


def _as_sqlalchemy_error(engine: Engine, error: Exception, lost: bool) -> BaseException:
    return DBAPIError.instance(None, None, error, engine.dialect.loaded_dbapi.Error, connection_invalidated=lost,
                               dialect=engine.dialect)
