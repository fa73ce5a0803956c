"""The database side of `replicate`: tables, custom-field columns, the metadata table and the cursors.

SQLAlchemy Core speaks both dialects (SQLite, the embedded default; PostgreSQL through psycopg), so
there is no hand-written SQL dialect here. Every page is written by `Database.write` in one
transaction together with the entity's cursor: a run killed at any point resumes from the last
committed page, and rows are upserted by primary key, so nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .entities import CONVERT, Child, Entity, parse_time

SQL_TYPES: dict[str, Any] = {
    "i": sa.BigInteger,
    "f": sa.Float,
    "s": sa.Text,
    "b": sa.Boolean,
    "t": sa.DateTime,
    "d": sa.Date,
    "j": sa.JSON,
}
META_COLUMNS = {"_record": "j", "_synced_at": "t", "_deleted_at": "t", "_seen_run": "s"}
# a custom field's type -> its column(s): (suffix, column type, what goes there)
CUSTOM_LAYOUT: dict[str, tuple[tuple[str, str, str], ...]] = {
    "enum": (("", "s", "label"), ("_id", "i", "value")),
    "set": (("", "j", "labels"), ("_ids", "j", "value")),
    "monetary": (("", "f", "amount"), ("_currency", "s", "currency")),
    "double": (("", "f", "value"),),
    "int": (("", "i", "value"),),
    "user": (("", "i", "value"),),
    "org": (("", "i", "value"),),
    "people": (("", "i", "value"),),
    "date": (("", "d", "value"),),
    "varchar": (("", "s", "value"),),
    "varchar_auto": (("", "s", "value"),),
    "text": (("", "s", "value"),),
    "phone": (("", "s", "value"),),
}
OTHER_CUSTOM = (("", "j", "value"),)  # address, daterange, time, timerange: kept whole


Bind = Callable[[str], "Callable[[Any], Any] | None"]  # column -> the database driver's step for its values


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclass
class CustomColumn:
    """One custom field as named column(s) of its entity's table."""

    field_key: str
    column: str
    name: str
    field_type: str
    options: list

    @property
    def layout(self) -> tuple[tuple[str, str, str], ...]:
        return CUSTOM_LAYOUT.get(self.field_type, OTHER_CUSTOM)

    def parts(self, bind: Bind = lambda column: None) -> list[tuple[str, Callable[[Any], Any]]]:
        """(column, raw value -> that column's value) for each column of the field: labels for enum and set
        options, their ids alongside. `bind` gives a column's driver-side step, folded in once."""
        labels = {o.get("id"): o.get("label") for o in self.options or []}
        picks: dict[str, Callable[[Any], Any] | None] = {
            "value": None,
            "label": lambda raw: None if raw is None else labels.get(raw, raw),
            "labels": lambda raw: [labels.get(i, i) for i in raw] if isinstance(raw, list) else raw,
            "amount": lambda raw: raw.get("value") if isinstance(raw, dict) else raw,
            "currency": lambda raw: raw.get("currency") if isinstance(raw, dict) else raw,
        }
        out = []
        for suffix, kind, part in self.layout:
            column = self.column + suffix
            out.append((column, chain(picks[part], _typed(kind), bind(column)) or _same))
        return out

    def values(self, raw: Any) -> dict[str, Any]:
        return {column: to(raw) for column, to in self.parts()}


def _same(value: Any) -> Any:
    return value


def _typed(kind: str) -> Callable[[Any], Any] | None:
    """A record's value as the column type (JSON columns take it as it is)."""
    return None if kind == "j" else CONVERT[kind]


def chain(*steps: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """f, g, h -> (v -> h(g(f(v)))), the missing steps left out; None when there is no step at all."""
    present = [s for s in steps if s is not None]
    if not present:
        return None
    out = present[0]
    for step in present[1:]:
        out = (lambda first, then: lambda v: then(first(v)))(out, step)
    return out


def page_rows(
    entity: Entity,
    custom: list[CustomColumn],
    records: list[dict],
    marker: str,
    deleted: bool = False,
    bind: Bind = lambda column: None,
) -> list[dict]:
    """Records as rows of the entity's table: typed columns, custom-field columns, the record itself.

    Every column's conversion (and `bind`, the database driver's own step) is chosen once per page, so
    a row costs one call per column: on a full replication this is the replicating process's main work."""
    plain, typed = [], []
    for name, kind in entity.table_columns.items():
        to = chain(_typed(kind), bind(name))
        (plain.append(name) if to is None else typed.append((name, to)))
    fields = [(column, c.field_key, to) for c in custom for column, to in c.parts(bind)]
    record_to = bind("_record") or _same
    now = utcnow()
    synced, seen = (bind("_synced_at") or _same)(now), (bind("_seen_run") or _same)(marker)
    stamp = bind("_deleted_at") or _same
    live = stamp(None)
    out = []
    for record in records:
        get = record.get
        row = {name: get(name) for name in plain}
        row.update({name: to(get(name)) for name, to in typed})
        values = get("custom_fields") or {}
        row.update({column: to(values.get(key)) for column, key, to in fields})
        row["_record"], row["_synced_at"], row["_seen_run"] = record_to(record), synced, seen
        row["_deleted_at"] = stamp(parse_time(get("update_time")) or now) if deleted else live
        out.append(row)
    return out


def slug(name: str, taken: set[str]) -> str:
    """A stable, unique, SQL-safe column name for a field's name ('Région / Zone' -> 'region_zone')."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:50] or "field"
    if base[0].isdigit():
        base = "f_" + base
    candidate, n = base, 2
    while any(candidate + suffix in taken for suffix in ("", "_id", "_ids", "_currency")):
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def engine_url(url: str) -> str:
    """postgresql:// goes through psycopg 3 (SQLAlchemy's default PostgreSQL driver is psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """A replica: one table per entity and per nested list, plus `_replication_*` bookkeeping tables."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(engine_url(url), json_serializer=_json, json_deserializer=orjson.loads)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_settings)
        self.meta = sa.MetaData()
        self.state_table = sa.Table(
            "_replication_state",
            self.meta,
            sa.Column("entity", sa.String(64), primary_key=True),
            sa.Column("state", sa.JSON, nullable=False),
            sa.Column("updated_at", sa.DateTime, nullable=False),
        )
        self.fields_table = sa.Table(  # what each custom-field column holds
            "_replication_custom_fields",
            self.meta,
            sa.Column("entity", sa.String(64), primary_key=True),
            sa.Column("field_key", sa.String(64), primary_key=True),
            sa.Column("column_name", sa.String(64), nullable=False),
            sa.Column("field_name", sa.Text, nullable=False),
            sa.Column("field_type", sa.String(32), nullable=False),
            sa.Column("options", sa.JSON),
        )
        self.changed_table = sa.Table(  # deals in the order they were written: what per-deal entities read
            "_replication_changed_deals",
            self.meta,
            sa.Column("deal_id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("seq", sa.BigInteger, nullable=False, index=True),
        )
        self.meta.create_all(self.engine)
        self.tables: dict[str, sa.Table] = {}
        self.custom: dict[str, list[CustomColumn]] = {}
        self.compiled: dict[tuple, tuple[str, Any]] = {}  # see _bulk

    def close(self) -> None:
        self.engine.dispose()

    # ---- tables -----------------------------------------------------------------------------
    def table(self, entity: Entity) -> sa.Table:
        """The entity's table (created when missing), with its custom-field columns."""
        if entity.name in self.tables:
            return self.tables[entity.name]
        custom = self._load_custom(entity.name)
        cols = [sa.Column(entity.key, SQL_TYPES[entity.key_type], primary_key=True, autoincrement=False)]
        cols += [sa.Column(name, SQL_TYPES[kind]) for name, kind in {**entity.columns, **META_COLUMNS}.items()]
        cols += [sa.Column(c.column + s, SQL_TYPES[k]) for c in custom for s, k, _ in c.layout]
        table = sa.Table(entity.name, self.meta, *cols)
        table.create(self.engine, checkfirst=True)
        for child in entity.children:
            child_table = sa.Table(
                child.table,
                self.meta,
                sa.Column("parent_id", SQL_TYPES[entity.key_type], primary_key=True, autoincrement=False),
                sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
                *(sa.Column(n, SQL_TYPES[k]) for n, k in child.columns.items()),
            )
            child_table.create(self.engine, checkfirst=True)
            self.tables[child.table] = child_table
        self.tables[entity.name] = table
        self.custom[entity.name] = custom
        return table

    def _load_custom(self, entity: str) -> list[CustomColumn]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self.fields_table).where(self.fields_table.c.entity == entity))
            return [
                CustomColumn(r.field_key, r.column_name, r.field_name, r.field_type, r.options or [])
                for r in rows.mappings()
            ]

    def update_custom(self, entity: Entity, definitions: Iterable[dict]) -> list[CustomColumn]:
        """Map the entity's custom fields to columns: a new field gets a new column, a renamed one keeps
        its column (the metadata table records the new name), options are refreshed."""
        table = self.table(entity)
        known = {c.field_key: c for c in self.custom[entity.name]}
        taken = {c.name for c in table.columns}
        changed = False
        with self.engine.begin() as conn:
            for d in definitions:
                key, name, kind = d["field_code"], d.get("field_name") or d["field_code"], d.get("field_type", "")
                current = known.get(key)
                if current is None:
                    current = CustomColumn(key, slug(name, taken), name, kind, d.get("options") or [])
                    for suffix, k, _ in current.layout:
                        column = sa.Column(current.column + suffix, SQL_TYPES[k])
                        self._add_column(conn, table, column)
                        taken.add(column.name)
                    known[key] = current
                elif (current.name, current.options) == (name, d.get("options") or []):
                    continue
                current.name, current.options = name, d.get("options") or []
                row = {"entity": entity.name, "field_key": key, "column_name": current.column}
                row |= {"field_name": name, "field_type": current.field_type, "options": current.options}
                self._upsert(conn, self.fields_table, [row], ["entity", "field_key"])
                changed = True
        if changed:
            self.custom[entity.name] = list(known.values())
        return self.custom[entity.name]

    def _add_column(self, conn: Connection, table: sa.Table, column: sa.Column) -> None:
        """SQLite commits ALTER TABLE by itself, outside the transaction: a run killed right after it leaves
        the column without its mapping, and this (the same slug from the same state) adopts it."""
        if column.name not in {c["name"] for c in sa.inspect(conn).get_columns(table.name)}:
            prep, kind = conn.dialect.identifier_preparer, column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {prep.quote(table.name)} ADD COLUMN {prep.quote(column.name)} {kind}"))
        table.append_column(column)

    # ---- rows -------------------------------------------------------------------------------
    def _bind(self, table: sa.Table) -> Bind:
        """column -> the driver-side step SQLAlchemy would apply to its values (None when there is none)."""
        dialect = self.engine.dialect
        steps = {c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns}
        if dialect.name == "sqlite":  # the same values from C calls: a third of the time of a page's rows
            steps |= {c.name: _sqlite_stamp for c in table.columns if isinstance(c.type, sa.DateTime)}
            steps |= {c.name: _json for c in table.columns if isinstance(c.type, sa.JSON)}
        return steps.get

    def write(
        self,
        entity: Entity,
        records: list[dict],
        state: dict,
        *,
        marker: str,
        deleted: bool = False,
        sweep: str | None = None,
        deals: list | None = None,
    ) -> tuple[int, int, int]:
        """One page and the entity's cursor in one transaction; (inserted, updated, deleted).

        `sweep`: soft-delete the rows a full pass (`marker` = its run) did not see. `deals`: a
        per-deal entity's batch: rows of those deals not seen any more are soft-deleted. Deals written
        here go to the end of the changed-deals log that per-deal entities read.
        """
        table = self.table(entity)
        key = table.c[entity.key]
        unique = {r.get(entity.key): r for r in records if r.get(entity.key) is not None}  # last one wins
        rows = page_rows(
            entity, self.custom.get(entity.name, []), list(unique.values()), marker, deleted, self._bind(table)
        )
        gone = 0
        with self.engine.begin() as conn:
            existing: dict[Any, Any] = {}  # key -> the record as last written, to tell a change from a re-read
            for chunk in _chunks(list(unique), 500):
                existing |= {k: r for k, r in conn.execute(sa.select(key, table.c._record).where(key.in_(chunk)))}
            if deleted:  # deals the deleted feed reports that the replica still held as live
                live = sa.select(sa.func.count()).where(key.in_(list(unique)) & table.c._deleted_at.is_(None))
                gone += len(set(unique) - set(existing)) + (conn.execute(live).scalar() or 0)
            self._bulk(conn, table, rows, [entity.key])
            for child in entity.children:
                self._replace_children(conn, entity, child, list(unique.values()))
            if deals is not None:
                stale = table.c.deal_id.in_(deals)
                gone += self._soft_delete(conn, table, stale & key.not_in(list(unique)) if unique else stale)
            if sweep is not None:
                gone += self._soft_delete(conn, table, (table.c._seen_run != sweep) | table.c._seen_run.is_(None))
            changed = [k for k, r in unique.items() if k not in existing or existing[k] != r]
            if entity.name == "deals" and changed and not deleted:  # not what the overlap merely re-read
                last = conn.execute(sa.select(sa.func.max(self.changed_table.c.seq))).scalar() or 0
                logged = [{"deal_id": deal, "seq": last + i} for i, deal in enumerate(changed, 1)]
                self._bulk(conn, self.changed_table, logged, ["deal_id"])
            self._save_state(conn, entity.name, state)
        if deleted:
            return 0, 0, gone
        inserted = len(set(unique) - set(existing))
        return inserted, len(changed) - inserted, gone

    def _replace_children(self, conn: Connection, entity: Entity, child: Child, records: list[dict]) -> None:
        """A record's nested list replaces the one it had: (parent id, position) rows."""
        table = self.tables[child.table]
        for chunk in _chunks([r[entity.key] for r in records], 500):
            conn.execute(sa.delete(table).where(table.c.parent_id.in_(chunk)))
        bind = self._bind(table)
        columns = [(n, chain(_typed(k), bind(n)) or _same) for n, k in child.columns.items()]
        rows = [
            {"parent_id": r[entity.key], "position": i}
            | {n: to(item.get(n) if isinstance(item, dict) else item if n == "value" else None) for n, to in columns}
            for r in records
            for i, item in enumerate(r.get(child.field) or [])
        ]
        self._bulk(conn, table, rows, None)

    def _soft_delete(self, conn: Connection, table: sa.Table, where) -> int:
        query = sa.update(table).where(where & table.c._deleted_at.is_(None)).values(_deleted_at=utcnow())
        return conn.execute(query).rowcount or 0

    def _upsert(self, conn: Connection, table: sa.Table, rows: list[dict], keys: list[str]) -> None:
        """A few rows of Python values (cursors, the custom-field mapping), through SQLAlchemy's processing."""
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
        changes = {c.name: insert.excluded[c.name] for c in table.columns if c.name in rows[0] and c.name not in keys}
        statement = insert.on_conflict_do_update(index_elements=keys, set_=changes)
        conn.execute(statement, rows)

    def _bulk(self, conn: Connection, table: sa.Table, rows: list[dict], keys: list[str] | None) -> None:
        """Rows already in the driver's types (`_bind`), inserted (`keys`: upserted) as one executemany of a
        statement SQLAlchemy compiles once per table and set of columns, with no per-row work on its side."""
        if not rows:
            return
        names = tuple(rows[0])
        plan = self.compiled.get((table.name, names, tuple(keys or ())))
        if plan is None:
            insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
            statement: Any = insert
            if keys:
                changes = {n: insert.excluded[n] for n in names if n not in keys}
                statement = insert.on_conflict_do_update(index_elements=keys, set_=changes)
            compiled = statement.compile(dialect=conn.dialect, column_keys=list(names))
            order = compiled.positiontup if compiled.positional else None  # SQLite's ?, psycopg's %(name)s
            plan = (compiled.string, operator.itemgetter(*order) if order else None)
            self.compiled[(table.name, names, tuple(keys or ()))] = plan
        sql, positional = plan
        conn.exec_driver_sql(sql, [positional(r) for r in rows] if positional else rows)

    # ---- cursors ----------------------------------------------------------------------------
    def states(self) -> dict[str, dict]:
        with self.engine.connect() as conn:
            return {r.entity: r.state for r in conn.execute(sa.select(self.state_table))}

    def save_state(self, entity: str, state: dict) -> None:
        with self.engine.begin() as conn:
            self._save_state(conn, entity, state)

    def _save_state(self, conn: Connection, entity: str, state: dict) -> None:
        row = {"entity": entity, "state": state, "updated_at": utcnow()}
        self._upsert(conn, self.state_table, [row], ["entity"])

    def changed_deals(self, after: int) -> list[tuple[int, int]]:
        """(deal id, seq) of the deals written after `after` in the changed-deals log, in order."""
        log = self.changed_table
        with self.engine.connect() as conn:
            query = sa.select(log.c.deal_id, log.c.seq).where(log.c.seq > after).order_by(log.c.seq)
            return [(d, q) for d, q in conn.execute(query)]


def _json(value: Any) -> str:
    """JSON columns (`_record` is every row's whole record): orjson's compact text, ~10x json.dumps."""
    return orjson.dumps(value).decode()


def _sqlite_stamp(value: datetime | None) -> str | None:
    """A timestamp as SQLAlchemy keeps it in SQLite ('2025-01-01 09:00:00.000000'), from one C call."""
    return None if value is None else value.isoformat(" ", "microseconds")


def _sqlite_settings(dbapi_connection, _record) -> None:
    """Write-ahead log: a commit is one append, and a killed process never corrupts the file (only a
    power cut may lose the last commits, which the next run then reads again)."""
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
