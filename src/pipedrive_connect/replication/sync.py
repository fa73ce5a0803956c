"""The run loop of `replicate`: each entity page by page, through the connector's client.

Requests go through the runtime's `PipedriveClient`, so the rate limiter, retries and error rules of
every other command apply. Cursors:

- incremental entities keep the newest `update_time` written (`since`) and ask for
  `updated_since = since - overlap`, sorted by update time: timestamps have whole seconds, so the
  overlap re-reads the edge and the upsert by primary key drops the duplicates;
- full entities keep the run and the next page while a pass is under way; the last page's
  transaction soft-deletes the rows the pass did not see;
- per-deal entities read the deals the deals pass queued (changed since they last ran).

`max_tokens` is checked before every request: the run stops cleanly and the next one continues.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeVar

from .. import pipedrive
from ..client import Request, Usage
from ..errors import StepError
from ..runtime import Runtime
from .entities import BY_NAME, ENTITIES, Entity, flow_record, parse_time

MAX_PAGES = 100_000
T = TypeVar("T")


def ahead(pages: Iterator[T]) -> Iterator[T]:
    """The pages, the next one fetched in a thread while the caller writes this one: the API's time and
    the database's overlap. Errors (a spent budget included) come out in order, after the pages before."""
    box: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not put(("page", page)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the caller's thread, raised there
            put(("error", exc))

    threading.Thread(target=fetch, name="replicate-fetch", daemon=True).start()
    try:
        while True:
            kind, value = box.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


class BudgetReached(Exception):
    """The next request would spend more tokens than --max-tokens allows."""


@dataclass
class Tally:
    """What one entity's sync did."""

    mode: str
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    usage: Usage = field(default_factory=Usage)
    status: str = "pending"

    def row(self, name: str) -> dict[str, Any]:
        return {
            "entity": name,
            "mode": self.mode,
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "calls": self.usage.calls,
            "tokens": self.usage.cost,
            "status": self.status,
        }


def select(names: list[str] | None) -> list[Entity]:
    """The entities asked for, in dependency order (field definitions first, deals before per-deal feeds)."""
    if not names:
        return [e for e in ENTITIES if e.default]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown entity {unknown[0]!r}; choose from {', '.join(BY_NAME)}")
    return [e for e in ENTITIES if e.name in names]


def newest(values: list, *more: str | None) -> str | None:
    """The latest of some timestamps (either API's format), as Pipedrive wrote it."""
    present = [(parse_time(v), v) for v in (*values, *more) if v]
    return max((p for p in present if p[0] is not None), default=(None, None))[1]


class Replicator:
    """One run: each entity in turn into `sink` (a `Database`, or a `SingerSink`), counted in `tallies`."""

    def __init__(
        self,
        runtime: Runtime,
        sink,
        entities: list[Entity],
        *,
        full: bool = False,
        max_tokens: int | None = None,
        overlap: float = 60.0,
        emit: Callable[[dict], None] | None = None,
        progress: Callable[[str], Any] | None = None,
    ):
        self.runtime, self.sink, self.entities = runtime, sink, entities
        self.full, self.max_tokens, self.overlap = full, max_tokens, timedelta(seconds=overlap)
        self.emit = emit or (lambda event: None)
        self.progress = progress
        self.run_id = uuid.uuid4().hex[:12]
        self.tallies = {e.name: Tally(e.mode) for e in entities}
        self.spent = 0
        self.field_cache: dict[str, list[dict]] = {}

    # ---- the run ----------------------------------------------------------------------------
    def run(self) -> dict[str, Tally]:
        states = self.sink.states()
        self.emit({"event": "run_started", "run": self.run_id, "entities": [e.name for e in self.entities]})
        for entity in self.entities:
            tally = self.tallies[entity.name]
            bar = self.progress(entity.name) if self.progress else None
            self.emit({"event": "entity_started", "entity": entity.name, "mode": entity.mode})
            try:
                sync = {"incremental": self._incremental, "full": self._full, "per_deal": self._per_deal}[entity.mode]
                sync(entity, dict(states.get(entity.name) or {}), tally, bar)
                tally.status = "done"
            except BudgetReached:
                tally.status = "stopped (--max-tokens)"
                self.emit({"event": "budget_reached", "entity": entity.name, "tokens": self.spent})
                for later in self.entities[self.entities.index(entity) + 1 :]:
                    self.tallies[later.name].status = "not started (--max-tokens)"
                break
            finally:
                if bar is not None:
                    bar.close()
            self.emit({"event": "entity_done", **tally.row(entity.name)})
        self.emit({"event": "run_done", "run": self.run_id, "calls": self.calls, "tokens": self.spent})
        return self.tallies

    @property
    def calls(self) -> int:
        return sum(t.usage.calls for t in self.tallies.values())

    @property
    def stopped(self) -> bool:
        return any(t.status.startswith(("stopped", "not started")) for t in self.tallies.values())

    # ---- requests ---------------------------------------------------------------------------
    def _request(self, entity: Entity) -> tuple[Request, str, int]:
        """The list request of an entity, its paging style and page size."""
        if entity.action:
            action = self.runtime.bundle.action(entity.action)
            request = Request(
                "GET", action.api or "v2", action.path or "", dict(action.decl.get("query", {})), cost=action.cost
            )
            return request, action.paging or "none", action.page_size
        assert entity.endpoint is not None
        api, path, cost, paging = entity.endpoint
        return Request("GET", api, path, {}, cost=cost), paging, 500

    def _pages(self, entity: Entity, tally: Tally, query: dict, start=None, path_id=None) -> Iterator[tuple[list, Any]]:
        """(items, next page or None) for each page of the entity's list from `start`."""
        request, paging, size = self._request(entity)
        if path_id is not None:
            request.path = request.path.replace("{id}", str(path_id))
        style = pipedrive.paging(paging) if paging != "none" else None
        at = start
        for _ in range(MAX_PAGES):
            page = {**request.query, **query}
            if style:
                page["limit"] = size
                if at is not None:
                    page[style.param] = at
            if self.max_tokens is not None and self.spent + request.cost > self.max_tokens:
                raise BudgetReached
            response = self.runtime.client.execute(replace(request, query=page), usage=tally.usage)
            self.spent += request.cost
            items = response.data or []
            if style is None:
                yield items, None
                return
            more, nxt = style.step(response.additional_data, at, len(items))
            if more and (nxt in (None, at) or not items):
                raise StepError("server", f"Pipedrive's paging of {request.path} did not move forward; stopped")
            yield items, (nxt if more else None)
            if not more:
                return
            at = nxt
        raise StepError("server", f"{request.path} did not end within {MAX_PAGES} pages")

    def _write(self, entity: Entity, tally: Tally, items: list, state: dict, bar, **kw) -> None:
        inserted, updated, deleted = self.sink.write(entity, items, state, **kw)
        tally.inserted, tally.updated, tally.deleted = (
            tally.inserted + inserted,
            tally.updated + updated,
            tally.deleted + deleted,
        )
        if bar is not None:
            bar.update(len(items))
            bar.set_postfix(calls=tally.usage.calls, tokens=tally.usage.cost, refresh=False)
        self.emit({"event": "page", "entity": entity.name, "rows": len(items), **_counts(tally)})

    # ---- the three modes --------------------------------------------------------------------
    def _custom_fields(self, entity: Entity, tally: Tally) -> None:
        """Refresh the entity's custom-field columns from its field definitions (read this run or now)."""
        if not entity.fields:
            return
        definitions = self.field_cache.get(entity.fields)
        if definitions is None:
            definitions = [d for items, _ in self._pages(BY_NAME[entity.fields], tally, {}) for d in items]
        self.sink.update_custom(entity, [d for d in definitions if d.get("is_custom_field")])

    def _incremental(self, entity: Entity, state: dict, tally: Tally, bar) -> None:
        self._custom_fields(entity, tally)
        if self.full and state.get("full_run") is None:
            state = {"full_run": self.run_id}  # from the beginning, and sweep what is not seen
        marker = state.get("full_run") or self.run_id
        request, _, _ = self._request(entity)
        v2 = request.api == "v2"
        order = {"sort_by": "update_time", "sort_direction": "asc"} if v2 else {"sort": entity.v1_sort}

        def since(value: str | None) -> dict[str, str]:
            edge = parse_time(value)
            if edge is None:
                return {}
            edge -= self.overlap
            return {"updated_since": edge.strftime("%Y-%m-%dT%H:%M:%SZ")}  # RFC 3339 in v1 too

        for items, nxt in ahead(self._pages(entity, tally, {**order, **since(state.get("since"))})):
            state["since"] = newest([i.get("update_time") for i in items], state.get("since"))
            last = nxt is None
            sweep = state.get("full_run") if last else None
            if last:
                state.pop("full_run", None)
            self._write(entity, tally, items, dict(state), bar, marker=marker, sweep=sweep)
        if entity.deleted_feed:
            query = {**order, "status": "deleted", **since(state.get("deleted_since"))}
            for items, _ in ahead(self._pages(entity, tally, query)):
                state["deleted_since"] = newest([i.get("update_time") for i in items], state.get("deleted_since"))
                self._write(entity, tally, items, dict(state), bar, marker=marker, deleted=True)

    def _full(self, entity: Entity, state: dict, tally: Tally, bar) -> None:
        run, start = state.get("run") or self.run_id, state.get("at")
        seen: list[dict] | None = [] if start is None else None  # whole lists are kept for the custom fields
        for items, nxt in ahead(self._pages(entity, tally, {}, start=start)):
            if seen is not None:
                seen += items
            last = nxt is None
            next_state = {"last_full": run} if last else {"run": run, "at": nxt}
            self._write(entity, tally, items, next_state, bar, marker=run, sweep=run if last else None)
        if seen is not None:
            self.field_cache[entity.name] = seen

    def _per_deal(self, entity: Entity, state: dict, tally: Tally, bar) -> None:
        changed = self.sink.changed_deals(state.get("seq", 0))
        for i in range(0, len(changed), entity.batch):
            batch = changed[i : i + entity.batch]
            deals = [deal for deal, _ in batch]
            rows: list[dict] = []
            if entity.batch > 1:
                query = {"deal_ids": ",".join(str(d) for d in deals)}
                rows = [r for items, _ in self._pages(entity, tally, query) for r in items]
            else:
                try:
                    for items, _ in self._pages(entity, tally, {}, path_id=deals[0]):
                        if entity.name == "deal_flow":
                            rows += [flow_record(deals[0], u) for u in items]
                        else:
                            rows += [{**r, "deal_id": deals[0]} for r in items]
                except StepError as exc:
                    if exc.status not in (404, 410):  # a deal deleted since it was written has nothing more
                        raise
            self._write(entity, tally, rows, {"seq": batch[-1][1]}, bar, marker=self.run_id, deals=deals)


def _counts(tally: Tally) -> dict[str, int]:
    row = tally.row("")
    return {k: row[k] for k in ("inserted", "updated", "deleted", "calls", "tokens")}
