"""`--format singer`: the same run written as Singer SCHEMA / RECORD / STATE messages (plain JSON lines).

Any Singer target can load them. The STATE value is the cursors a database keeps in
`_replication_state` (plus the custom-field columns and the deals waiting for per-deal feeds), and
it is also written to `--state FILE` after each page, so the next run continues from there.
Deletions appear as records with `_deleted_at` set; full passes do not sweep (a stream has no
memory of what it sent before).
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from .entities import Entity
from .schema import CustomColumn, page_rows, slug, utcnow

JSON_TYPES = {
    "i": {"type": ["null", "integer"]},
    "f": {"type": ["null", "number"]},
    "s": {"type": ["null", "string"]},
    "b": {"type": ["null", "boolean"]},
    "t": {"type": ["null", "string"], "format": "date-time"},
    "d": {"type": ["null", "string"], "format": "date"},
    "j": {},
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


class SingerSink:
    def __init__(self, out: IO[str], state_file: str | None):
        self.out, self.path = out, Path(state_file) if state_file else None
        self.value: dict[str, Any] = {"bookmarks": {}, "columns": {}, "changed_deals": {}}
        if self.path and self.path.exists():
            self.value.update(json.loads(self.path.read_text(encoding="utf-8")))
        self.custom: dict[str, list[CustomColumn]] = {
            name: [CustomColumn(**c) for c in columns] for name, columns in self.value["columns"].items()
        }
        self.announced: set[str] = set()

    def close(self) -> None:
        self.out.flush()

    def _send(self, message: dict) -> None:
        self.out.write(json.dumps(message, ensure_ascii=False, default=_plain) + "\n")

    def states(self) -> dict[str, dict]:
        return dict(self.value["bookmarks"])

    def changed_deals(self, after: int) -> list[tuple[int, int]]:
        log = self.value["changed_deals"]
        return sorted(((int(d), q) for d, q in log.items() if q > after), key=lambda item: item[1])

    def update_custom(self, entity: Entity, definitions: list[dict]) -> list[CustomColumn]:
        known = {c.field_key: c for c in self.custom.get(entity.name, [])}
        taken = set(entity.table_columns) | {c.column + s for c in known.values() for s, _, _ in c.layout}
        for d in definitions:
            current = known.get(d["field_code"])
            name, options = d.get("field_name") or d["field_code"], d.get("options") or []
            if current is None:
                current = known[d["field_code"]] = CustomColumn(
                    d["field_code"], slug(name, taken), name, d.get("field_type", ""), options
                )
                taken |= {current.column + s for s, _, _ in current.layout}
            current.name, current.options = name, options
        self.custom[entity.name] = list(known.values())
        self.value["columns"][entity.name] = [vars(c) for c in known.values()]
        return self.custom[entity.name]

    def _schema(self, entity: Entity) -> None:
        if entity.name in self.announced:
            return
        properties = {n: JSON_TYPES[k] for n, k in entity.table_columns.items()}
        properties |= {c.column + s: JSON_TYPES[k] for c in self.custom.get(entity.name, []) for s, k, _ in c.layout}
        properties |= {"_synced_at": JSON_TYPES["t"], "_deleted_at": JSON_TYPES["t"]}
        schema = {"type": "object", "properties": properties}
        message = {"type": "SCHEMA", "stream": entity.name, "schema": schema, "key_properties": [entity.key]}
        if entity.mode == "incremental":
            message["bookmark_properties"] = ["update_time"]
        self._send(message)
        for child in entity.children:
            props = {"parent_id": JSON_TYPES[entity.key_type], "position": JSON_TYPES["i"]}
            props |= {n: JSON_TYPES[k] for n, k in child.columns.items()}
            child_schema = {"type": "object", "properties": props}
            self._send({"type": "SCHEMA", "stream": child.table, "schema": child_schema, "key_properties": []})
        self.announced.add(entity.name)

    def write(self, entity: Entity, records: list[dict], state: dict, *, marker: str, deleted=False, **kw):
        self._schema(entity)
        unique = {r.get(entity.key): r for r in records if r.get(entity.key) is not None}
        now = _plain(utcnow()) + ""
        for row in page_rows(entity, self.custom.get(entity.name, []), list(unique.values()), marker, deleted):
            row.pop("_record"), row.pop("_seen_run")
            self._send({"type": "RECORD", "stream": entity.name, "record": row, "time_extracted": now})
        for child in entity.children:
            for record in unique.values():
                for i, item in enumerate(record.get(child.field) or []):
                    row = {"parent_id": record[entity.key], "position": i}
                    row |= {n: item.get(n) if isinstance(item, dict) else None for n in child.columns}
                    self._send({"type": "RECORD", "stream": child.table, "record": row, "time_extracted": now})
        if entity.name == "deals" and not deleted:
            log = self.value["changed_deals"]
            last = max(log.values(), default=0)
            log.update({str(deal): last + i for i, deal in enumerate(unique, 1)})
        self.value["bookmarks"][entity.name] = state
        self._send({"type": "STATE", "value": self.value})
        if self.path:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self.value), encoding="utf-8")
            os.replace(tmp, self.path)
        return len(unique), 0, len(unique) if deleted else 0
