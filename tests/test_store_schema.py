"""The migrations build exactly the schema the code declares (connector/store/models.py),
on SQLite and on PostgreSQL: a column, index or constraint added to one and not the other
fails here, not in production after `connector db upgrade`."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from connector.store.models import metadata


def test_the_migrated_store_matches_the_declared_schema(store):
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_escalations_can_be_found_by_customer_reference_through_an_index(store):
    indexes = {index["name"]: index["column_names"] for index in inspect(store.engine).get_indexes("escalations")}
    assert indexes["ix_escalations_account_ref"] == ["account_ref"]
