"""Updating many rows, each with its own values, in one cheap statement.

Django's bulk_update builds a CASE WHEN per row and field; for a batch of
studies that is most of the worker's CPU. On PostgreSQL one
UPDATE ... FROM (VALUES ...) does the same with plain parameters.
"""

from __future__ import annotations

from django.db import connections, router

# PostgreSQL takes at most 65 535 parameters a statement.
_MAX_PARAMETERS = 60_000


def rows_update(*, model, rows: list, fields: list[str]) -> None:
    """Write `fields` of every row in `rows` (saved instances of `model`)."""
    if not rows or not fields:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        # SQLite serialises writers anyway and is the small installation's database.
        model._base_manager.bulk_update(rows, fields)
        return
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    row_sql = "(" + ", ".join(f"%s::{f.cast_db_type(connection)}" for f in columns) + ")"
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns[1:])
    names = ", ".join(quote(f.column) for f in columns)
    pk = quote(meta.pk.column)
    per_statement = max(1, _MAX_PARAMETERS // len(columns))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                f.get_db_prep_save(getattr(row, f.attname), connection) for row in chunk for f in columns
            ]
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
                f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) AS v({names}) "
                f"WHERE t.{pk} = v.{pk}",
                params,
            )
