"""In-memory state of the sandbox: one table per resource, guarded by one lock.

Records are plain dicts kept in the shape the API returns, so handlers copy
them out instead of translating.  Optional persistence writes through to a
SQLite file (stdlib only) so a demo survives restarts.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import overload

# Tables whose ids are not auto-incremented integers.
UUID_TABLES = {"leads", "leadLabels"}
STRING_ID_TABLES = {"callLogs", "permissionSets"}


def now_v2() -> str:
    """RFC 3339 timestamp, the format of API v2."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@overload
def v1_time(rfc3339: str) -> str: ...
@overload
def v1_time(rfc3339: str | None) -> str | None: ...
def v1_time(rfc3339: str | None) -> str | None:
    """v1 writes timestamps as 'YYYY-MM-DD HH:MM:SS' (UTC)."""
    return rfc3339.replace("T", " ").rstrip("Z") if rfc3339 else rfc3339


class Store:
    """Tables of records keyed by id, plus per-table id counters.

    Every public method takes the lock, so handlers may call them from any
    server thread.  Handlers that need several steps to be atomic (merges)
    hold ``store.lock`` themselves; it is re-entrant.
    """

    def __init__(self, seed=None) -> None:
        self.lock = threading.RLock()
        self.rng = random.Random(seed)  # UUIDs are drawn from it, so a seed fixes them
        self.tables: dict[str, dict] = {}
        self.next_ids: dict[str, int] = {}
        self.tombstones: dict[str, set] = {}
        self.deleted: dict[str, dict] = {}  # deleted records with their delete_time, kept as Pipedrive does
        self._dirty: set[tuple[str, object]] = set()
        self._db: sqlite3.Connection | None = None
        # called under the lock after each change: (table, "create"|"change"|"delete", data, previous)
        self.observers: list[Callable[[str, str, dict | None, dict | None], None]] = []

    # -- basic access -------------------------------------------------------
    def table(self, name: str) -> dict:
        with self.lock:
            return self.tables.setdefault(name, {})

    def count(self, name: str) -> int:
        with self.lock:
            return len(self.tables.get(name, {}))

    def get(self, name: str, key):
        with self.lock:
            return self.tables.get(name, {}).get(key)

    def rows(self, name: str) -> list[dict]:
        """Snapshot of a table's records (the dicts themselves, do not mutate)."""
        with self.lock:
            return list(self.tables.get(name, {}).values())

    def new_id(self, name: str):
        with self.lock:
            if name in UUID_TABLES:
                return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            n = self.next_ids.get(name, 1)
            self.next_ids[name] = n + 1
            return str(n) if name in STRING_ID_TABLES else n

    def insert(self, name: str, record: dict) -> dict:
        """Store a record, assigning an id when it has none."""
        with self.lock:
            if record.get("id") is None:
                record["id"] = self.new_id(name)
            elif isinstance(record["id"], int):
                self.next_ids[name] = max(self.next_ids.get(name, 1), record["id"] + 1)
            self.table(name)[record["id"]] = record
            self._dirty.add((name, record["id"]))
            self._notify(name, "create", record, None)
            return record

    def update(self, name: str, key, changes: dict) -> dict:
        with self.lock:
            record = self.tables[name][key]
            previous = {k: record.get(k) for k, v in changes.items() if k != "update_time" and record.get(k) != v}
            record.update(changes)
            self._dirty.add((name, key))
            if previous:
                self._notify(name, "change", record, previous)
            return record

    def delete(self, name: str, key) -> dict | None:
        with self.lock:
            record = self.tables.get(name, {}).pop(key, None)
            if record is not None:
                self.tombstones.setdefault(name, set()).add(key)
                self.deleted.setdefault(name, {})[key] = {**record, "delete_time": now_v2()}
                self._dirty.add((name, key))
                self._notify(name, "delete", None, record)
            return record

    def _notify(self, name: str, action: str, data: dict | None, previous: dict | None) -> None:
        for observer in self.observers:
            observer(name, action, data, previous)

    def was_deleted(self, name: str, key) -> bool:
        with self.lock:
            return key in self.tombstones.get(name, ())

    def deleted_rows(self, name: str, days: int = 30) -> list[dict]:
        """Records deleted within the last `days` days (Pipedrive keeps deleted deals for 30)."""
        horizon = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() - days * 86400, timezone.utc)
        cutoff = horizon.strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.lock:
            return [r for r in self.deleted.get(name, {}).values() if r["delete_time"] >= cutoff]

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {name: len(rows) for name, rows in self.tables.items()}

    # -- SQLite persistence -------------------------------------------------
    def attach_sqlite(self, path: str) -> bool:
        """Open (or create) a database file; load it when it has data.

        Returns True when records were loaded, so the caller knows whether
        to seed defaults.
        """
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS records (tbl TEXT, key TEXT, body TEXT, PRIMARY KEY (tbl, key))")
        self._db.execute("CREATE TABLE IF NOT EXISTS counters (tbl TEXT PRIMARY KEY, next_id INTEGER)")
        with self.lock:
            rows = self._db.execute("SELECT tbl, body FROM records").fetchall()
            for name, body in rows:
                record = json.loads(body)
                self.table(name)[record["id"]] = record
            self.next_ids.update(dict(self._db.execute("SELECT tbl, next_id FROM counters")))
            self._dirty.clear()
        return bool(rows)

    def flush(self) -> None:
        """Write changed records to SQLite (no-op without a database)."""
        if self._db is None:
            return
        with self.lock:
            dirty, self._dirty = self._dirty, set()
            for name, key in dirty:
                record = self.tables.get(name, {}).get(key)
                if record is None:
                    self._db.execute("DELETE FROM records WHERE tbl=? AND key=?", (name, json.dumps(key)))
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                        (name, json.dumps(key), json.dumps(record)),
                    )
            self._db.executemany("INSERT OR REPLACE INTO counters VALUES (?, ?)", self.next_ids.items())
            self._db.commit()

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None
