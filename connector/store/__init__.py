"""The store: one SQLAlchemy engine, SQLite by default, PostgreSQL for scale-out.

Transactions are explicit (``with store.begin() as conn``). On SQLite every transaction
starts with ``BEGIN IMMEDIATE`` so that writers serialise instead of failing half-way
with "database is locked"; WAL mode lets readers (``/readyz``, ``/metrics``) run beside
them. On PostgreSQL the claim query uses ``FOR UPDATE SKIP LOCKED``.
"""
from __future__ import annotations

import os
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import Connection, Engine, make_url

from connector.store import models

if TYPE_CHECKING:
    from connector.store.direct import HeldConnection

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Accept the URLs platforms hand out (``postgres://``) and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Store:
    def __init__(self, url: str, *, pool_size: int = 5):
        self.url = normalise_url(url)
        self.engine: Engine = _make_engine(self.url, pool_size)
        self._held: "weakref.WeakSet[HeldConnection]" = weakref.WeakSet()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read-only connection (autocommitting reads; no write lock on SQLite)."""
        with self.engine.connect() as conn:
            yield conn
            conn.rollback()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def migrate(self) -> None:
        """Bring the schema to the newest revision (``connector db upgrade``)."""
        from alembic import command

        # "heads": plugins may add migrations on branches of their own off a shared base.
        command.upgrade(alembic_config(self), "heads")

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
        return ",".join(sorted(heads)) or None

    def held_connection(self, *, autocommit: bool = False) -> "HeldConnection":
        """A connection of its own for a writer that is one thread at a time (the
        webhook intake), closed when the store is disposed (:mod:`connector.store.direct`)."""
        from connector.store.direct import HeldConnection

        held = HeldConnection(self.engine, autocommit=autocommit)
        self._held.add(held)
        return held

    def dispose(self) -> None:
        for held in list(self._held):
            held.close()
        self.engine.dispose()

    def insert_ignoring_conflict(self, conn: Connection, table, values: dict, conflict: list[str]):
        """INSERT … ON CONFLICT DO NOTHING on either back-end; returns the new row's
        primary key, or None when the row already existed."""
        stmt = _dialect_insert(self.dialect, table).values(**values)
        stmt = stmt.on_conflict_do_nothing(index_elements=conflict)
        pk = list(table.primary_key.columns)[0]
        return conn.execute(stmt.returning(pk)).scalar()

    def upsert(self, conn: Connection, table, values: dict, conflict: list[str], update: dict):
        stmt = _dialect_insert(self.dialect, table).values(**values)
        stmt = stmt.on_conflict_do_update(index_elements=conflict, set_=update)
        conn.execute(stmt)


def _dialect_insert(dialect: str, table):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - guarded at start-up by config validation
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    return insert(table)


IDLE_PING_SECONDS = 10.0
"""A pooled connection that sat unused this long is pinged before it is handed out."""


def _make_engine(url: str, pool_size: int) -> Engine:
    """One pooled engine per process, on either back-end.

    Connections are kept open and reused (SQLite too: a new SQLite connection and its
    PRAGMAs cost more CPU than the webhook's whole transaction). Two things make that
    safe:

    - **fork**: a process forked after the engine was built (gunicorn with
      ``--preload``, say) drops the pooled connections it inherited without closing
      them, so parent and child never share a handle (:func:`_drop_inherited_connections`).
    - **lost connections** (the database restarted, a proxy dropped an idle one): a
      connection idle for more than :data:`IDLE_PING_SECONDS` is pinged when it is
      checked out and replaced if dead. A busy one is not pinged (that round trip on
      every transaction is what ``pool_pre_ping`` costs); if it turns out dead mid-use,
      SQLAlchemy invalidates it and every connection pooled before it, and the caller
      sees ``DBAPIError.connection_invalidated`` (the webhook intake then retries once).
    """
    if url.startswith("sqlite"):
        # check_same_thread=False: a pooled connection serves one thread at a time, but
        # not always the thread that opened it. An in-memory database keeps SQLAlchemy's
        # own pool for it (one connection per thread).
        in_memory = make_url(url).database in (None, "", ":memory:")
        sizes = {} if in_memory else {"pool_size": pool_size, "max_overflow": pool_size}
        engine = create_engine(url, **sizes, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below take over
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
    _ping_when_idle(engine, IDLE_PING_SECONDS)
    _ENGINES.add(engine)  # for _drop_inherited_connections
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as error:
            # The pool discards this connection and checks out a fresh one.
            raise exc.DisconnectionError(f"idle connection failed its ping: {error}") from error


_ENGINES: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def _drop_inherited_connections() -> None:
    """In a forked child: forget every pooled connection inherited from the parent."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)  # the parent still uses them: abandon, do not close


os.register_at_fork(after_in_child=_drop_inherited_connections)


def alembic_config(store: Store):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    cfg.attributes["engine"] = store.engine
    return cfg


__all__ = ["Store", "models", "normalise_url"]
