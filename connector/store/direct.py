"""Prebuilt statements run straight on the pool's DBAPI connection: the webhook hot path.

Every webhook is one write of the same few statements. Through a SQLAlchemy
``Connection`` each execution builds an execution context, looks the compiled statement
up in the cache, runs the parameters through the type system and fires the engine's
events: on a two-core machine that cost more CPU than the database's own work (see
docs/performance.md, "Intake on the DBAPI connection"). Here SQLAlchemy still does what
it is good at — building the statement from the table definitions, compiling it for the
dialect, and the types' bind processors (so a datetime is stored exactly as the rest of
the code reads it back) — but once per process; each call is then a dict merge and the
driver's ``execute``.

What a ``Connection`` gave us besides, and how it is kept here:

- **The pool**: connections come from ``engine.raw_connection()``, so the pool's
  checkout hooks (the ping of a connection idle for long, fork safety) run as for any
  other connection, and the connection goes back to the pool, reset, afterwards.
- **Lost connections**: a driver error is raised as SQLAlchemy's ``DBAPIError`` with
  ``connection_invalidated`` set when the dialect recognises a dropped connection (its own
  ``is_disconnect``), exactly as a ``Connection`` raises it. That connection is discarded,
  and so is every other connection pooled at that moment (the database restarted: they are
  dead too), as SQLAlchemy does.

Nothing else in the store uses this; it is for writes that run on every request.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable


class DirectStatement:
    """A statement compiled once for one dialect; :meth:`parameters` turns a dict of
    values into what the driver's ``execute`` takes (a tuple for SQLite's ``?``, a dict
    for psycopg's ``%(name)s``), each value through its column type's bind processor.

    Bind parameters with a value in the statement (``literal('pending')``) are filled in
    from the statement; every other one must be given. A missing one is a ``KeyError``
    naming it: a programming error, caught by the first test that runs the statement."""

    def __init__(self, statement: Executable, engine: Engine):
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql: str = str(compiled)
        self._positions: tuple[str, ...] | None = tuple(compiled.positiontup) if compiled.positional else None
        self._constants: dict[str, Any] = {}
        self._processors: list[tuple[str, Callable[[Any], Any]]] = []
        for name, bind in compiled.binds.items():
            if not bind.required:
                self._constants[name] = bind.value
            processor = bind.type.bind_processor(dialect)
            if processor is not None:
                self._processors.append((name, processor))

    def parameters(self, values: Mapping[str, Any]) -> tuple | dict[str, Any]:
        merged = {**self._constants, **values} if self._constants else dict(values)
        for name, processor in self._processors:
            merged[name] = processor(merged[name])
        if self._positions is None:
            return merged
        return tuple(merged[name] for name in self._positions)


@contextmanager
def dbapi_connection(engine: Engine) -> Iterator[Any]:
    """The driver's own connection, checked out of ``engine``'s pool for the block. A
    transaction the block leaves open (it raised) is rolled back by the pool's reset when
    the connection goes back (PostgreSQL's autocommit pool never has one open)."""
    fairy = engine.raw_connection()
    dbapi = engine.dialect.loaded_dbapi
    try:
        yield fairy.driver_connection
    except dbapi.Error as error:
        lost = engine.dialect.is_disconnect(error, fairy.dbapi_connection, None)
        if lost:
            fairy.invalidate(error)
            # The database went away under this connection, so every connection pooled
            # now is dead too: start a fresh pool (connections checked out elsewhere are
            # closed when they come back).
            engine.dispose()
        raise _as_sqlalchemy_error(engine, error, lost) from error
    finally:
        fairy.close()


class HeldConnection:
    """A connection taken out of ``engine``'s pool for good, for a writer that is never
    more than one thread at a time (SQLite's group-commit writer): no checkout and return
    around every write.

    It is opened through the pool, so the engine's connect hooks (SQLite's PRAGMAs) have
    run on it, then detached from the pool. A forked child opens its own and leaves the
    parent's alone. A block that raises has its transaction rolled back; a lost
    connection (or one that cannot roll back) is dropped, and the next use opens a new
    one. Driver errors are raised as SQLAlchemy's, as :func:`dbapi_connection` raises them.
    """

    def __init__(self, engine: Engine):
        self._engine = engine
        self._conn: Any = None  # the DBAPI connection (SQLite: the driver's own)
        self._pid = 0

    @contextmanager
    def use(self) -> Iterator[Any]:
        if self._conn is None or self._pid != os.getpid():
            fairy = self._engine.raw_connection()
            conn = fairy.dbapi_connection
            fairy.detach()
            self._conn, self._pid = conn, os.getpid()
        conn = self._conn
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

    def close(self) -> None:
        if self._pid == os.getpid():
            self._drop()
        self._conn = None

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
