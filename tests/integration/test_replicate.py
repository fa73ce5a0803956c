"""`replicate` against the sandbox over loopback, into a real SQLite file and a real PostgreSQL server.

The replica is checked against the sandbox's own tables, record for record: per entity the count of
live rows and a digest of (key, update time, title or name, every custom-field column).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import signal
import subprocess
import sys
import time

import jsonschema
import pytest
import requests
import sqlalchemy as sa

from pipedrive_connect.replication.entities import BY_NAME, ENTITIES, parse_time
from pipedrive_connect.replication.schema import Database, engine_url
from pipedrive_connect.replication.singer import SingerSink
from pipedrive_connect.replication.sync import Replicator, select
from pipedrive_connect.runtime import Runtime
from pipedrive_connect.sandbox import Sandbox

from ..conftest import SANDBOX_TOKEN
from ..support.openapi import requires_spec, validate_request
from ..support.postgres import fresh_database, postgres_server
from .conftest import FAST_RETRY, connect

SIZE = {
    "organizations": 150,
    "persons": 600,
    "products": 40,
    "deals": 700,
    "activities": 300,
    "notes": 200,
    "leads": 60,
    "customFields": 6,
}
# each entity's table in the sandbox
STORE = {e.name: "".join(w.capitalize() if i else w for i, w in enumerate(e.name.split("_"))) for e in ENTITIES}
LABEL = ("title", "name", "field_name", "subject", "content")
PER_DEAL = ["deal_products", "deal_participants", "deal_flow"]


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """An empty replica: a SQLite file, and a database on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'replica.db'}"
    return fresh_database(request.getfixturevalue("postgres"), f"replica_{random.randrange(1 << 30)}")


@pytest.fixture
def account():
    """A generated account with custom fields, a few deal products and participants."""
    with Sandbox(token=SANDBOX_TOKEN, generate=SIZE, seed=11) as sb:
        for deal in (1, 2, 3):
            api(sb, "POST", f"/api/v2/deals/{deal}/products", {"product_id": deal, "item_price": 10, "quantity": 2})
            api(sb, "POST", f"/api/v1/deals/{deal}/participants", {"person_id": deal + 10})
        yield sb


def api(sandbox, method: str, path: str, body=None) -> dict:
    response = requests.request(
        method, sandbox.base_url + path, json=body, headers={"x-api-token": SANDBOX_TOKEN}, timeout=10
    )
    assert response.ok, response.text
    return response.json()["data"]


def replicate(sandbox, url: str, bundle, names=None, sink=None, **options) -> Replicator:
    runtime = Runtime(bundle, connect(sandbox), retry=FAST_RETRY)
    sink = sink or Database(url)
    replicator = Replicator(runtime, sink, select(names), **options)
    try:
        replicator.run()
    finally:
        sink.close()
    return replicator


# ---- what the sandbox holds and what the replica holds --------------------------------------
def custom_expected(sandbox, entity, record) -> dict:
    """The custom-field columns a record should fill: labels for options, ids alongside."""
    if not entity.fields:
        return {}
    out = {}
    for f in sandbox.store.rows(STORE[entity.fields]):
        if not f.get("is_custom_field"):
            continue
        value = (record.get("custom_fields") or {}).get(f["field_code"])
        labels = {o["id"]: o["label"] for o in f.get("options") or []}
        if f["field_type"] == "enum":
            out[f["field_code"]] = (labels.get(value) if value is not None else None, value)
        elif f["field_type"] == "set":
            out[f["field_code"]] = ([labels[v] for v in value] if value else None, value)
        else:
            out[f["field_code"]] = (value,)
    return out


def norm(value):
    if value is None or value == []:
        return None
    return str(parse_time(value) if isinstance(value, str) and value[:4].isdigit() and ":" in value else value)


def digest(rows) -> tuple[int, str]:
    items = sorted(json.dumps([norm(v) for v in row], default=str) for row in rows)
    return len(items), hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def sandbox_digest(sandbox, entity) -> tuple[int, str]:
    label = next(c for c in LABEL if c in entity.columns) if any(c in entity.columns for c in LABEL) else None
    rows = []
    for record in sandbox.store.rows(STORE[entity.name]):
        custom = custom_expected(sandbox, entity, record)
        rows.append(
            [record[entity.key], record.get("update_time") if "update_time" in entity.columns else None]
            + [record.get(label) if label else None]
            + [v for key in sorted(custom) for v in custom[key]]
        )
    return digest(rows)


def replica_digest(url: str, entity) -> tuple[int, str]:
    engine = sa.create_engine(engine_url(url))
    table = sa.Table(entity.name, sa.MetaData(), autoload_with=engine)
    meta = sa.Table("_replication_custom_fields", sa.MetaData(), autoload_with=engine)
    label = next((c for c in LABEL if c in entity.columns), None)
    with engine.connect() as conn:
        mapping = conn.execute(sa.select(meta).where(meta.c.entity == entity.name)).mappings().all()
        columns = []
        for m in sorted(mapping, key=lambda m: m["field_key"]):
            columns.append(table.c[m["column_name"]])
            if m["field_type"] in ("enum", "set"):
                columns.append(table.c[m["column_name"] + ("_id" if m["field_type"] == "enum" else "_ids")])
        picked = [table.c[entity.key], table.c.update_time if "update_time" in entity.columns else sa.null()]
        picked.append(table.c[label] if label else sa.null())
        query = sa.select(*picked, *columns).where(table.c._deleted_at.is_(None))
        rows = [list(r) for r in conn.execute(query)]
    engine.dispose()
    return digest(rows)


def table_contents(url: str) -> dict[str, list]:
    """Every table's rows (bookkeeping columns of a run left out), sorted: what 'the same database' means."""
    engine = sa.create_engine(engine_url(url))
    meta = sa.MetaData()
    meta.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for name, table in meta.tables.items():
            if name == "_replication_state":
                continue
            cols = [c for c in table.columns if c.name not in ("_synced_at", "_seen_run")]
            out[name] = sorted(json.dumps(list(r), default=str, sort_keys=True) for r in conn.execute(sa.select(*cols)))
    engine.dispose()
    return out


# ---- the tests ------------------------------------------------------------------------------
def test_a_full_run_matches_the_sandbox_record_for_record(account, database, bundle):
    replicator = replicate(account, database, bundle)
    for entity in select(None):
        if entity.mode == "per_deal":
            continue
        assert replica_digest(database, entity) == sandbox_digest(account, entity), entity.name
    # the minimum calls per list: ceil(N/500) pages (+1 for the deleted-deals feed)
    assert replicator.tallies["deals"].usage.calls == -(-SIZE["deals"] // 500) + 1
    assert replicator.tallies["persons"].usage.calls == -(-SIZE["persons"] // 500)
    engine = sa.create_engine(engine_url(database))
    with engine.connect() as conn:
        emails = conn.execute(sa.text("SELECT count(*) FROM person_emails")).scalar()
        prices = conn.execute(sa.text("SELECT count(*) FROM product_prices")).scalar()
        lines = conn.execute(sa.text("SELECT deal_id, quantity FROM deal_products ORDER BY deal_id")).all()
    engine.dispose()
    assert emails == SIZE["persons"] and prices == SIZE["products"]
    assert [tuple(line) for line in lines] == [(1, 2.0), (2, 2.0), (3, 2.0)]


def test_an_incremental_run_brings_changes_deletions_and_new_fields_for_far_fewer_calls(
    account, database, bundle, capsys
):
    names = [e.name for e in ENTITIES if e.name != "deal_participants"]  # the change history too
    full = replicate(account, database, bundle, names)
    enum = next(f for f in account.store.rows("dealFields") if f.get("field_type") == "enum")
    api(account, "PATCH", "/api/v2/deals/5", {"title": "Renegotiated", "custom_fields": {enum["field_code"]: None}})
    api(account, "PATCH", "/api/v2/persons/9", {"name": "Renamed Person"})
    api(account, "DELETE", "/api/v2/deals/6")
    api(account, "DELETE", "/api/v2/deals/7")
    added = api(account, "POST", "/api/v2/dealFields", {"field_name": "Région / Zone", "field_type": "varchar"})
    api(account, "PATCH", "/api/v2/deals/8", {"custom_fields": {added["field_code"]: "Nord"}})
    account.store.update("dealFields", enum["id"], {"field_name": "Priority tier"})  # renamed in Pipedrive
    api(account, "POST", "/api/v2/deals/2/products", {"product_id": 4, "item_price": 5, "quantity": 1})

    second = replicate(account, database, bundle, names)

    print(f"\nfull run: {full.calls} calls; incremental run: {second.calls} calls")
    assert second.calls * 2 < full.calls, (second.calls, full.calls)
    assert second.tallies["deals"].usage.calls == 2  # one page of changes, one of deleted deals
    assert second.tallies["deals"].deleted == 2 and second.tallies["deals"].inserted == 0
    for entity in ("deals", "persons", "deal_fields"):
        assert replica_digest(database, BY_NAME[entity]) == sandbox_digest(account, BY_NAME[entity]), entity
    engine = sa.create_engine(engine_url(database))
    with engine.connect() as conn:
        gone = conn.execute(sa.text("SELECT id, status FROM deals WHERE _deleted_at IS NOT NULL ORDER BY id")).all()
        region = conn.execute(sa.text("SELECT region_zone FROM deals WHERE id = 8")).scalar()
        columns = dict(conn.execute(sa.text("SELECT field_key, column_name FROM _replication_custom_fields")).all())
        renamed = conn.execute(
            sa.text("SELECT field_name FROM _replication_custom_fields WHERE field_key = :k"), {"k": enum["field_code"]}
        ).scalar()
        flow = conn.execute(sa.text("SELECT new_value FROM deal_flow WHERE deal_id = 5 AND field_key = 'title'")).all()
        products = conn.execute(
            sa.text("SELECT count(*) FROM deal_products WHERE deal_id = 2 AND _deleted_at IS NULL")
        ).scalar()
    engine.dispose()
    assert [tuple(g) for g in gone] == [(6, "deleted"), (7, "deleted")]
    assert region == "Nord"
    assert columns[enum["field_code"]] == "enum_field_2" and renamed == "Priority tier"  # kept its column
    assert [tuple(f) for f in flow] == [("Renegotiated",)]
    assert products == 2
    assert second.tallies["deal_flow"].usage.calls < full.tallies["deal_flow"].usage.calls / 10


def test_a_full_pass_soft_deletes_what_pipedrive_no_longer_lists(account, database, bundle):
    replicate(account, database, bundle, ["persons", "stages"])
    api(account, "DELETE", "/api/v2/persons/3")
    api(account, "DELETE", "/api/v2/stages/2")
    again = replicate(account, database, bundle, ["persons", "stages"], full=True)
    assert again.tallies["persons"].deleted == 1 and again.tallies["stages"].deleted == 1
    for name in ("persons", "stages"):
        assert replica_digest(database, BY_NAME[name]) == sandbox_digest(account, BY_NAME[name])


def test_max_tokens_stops_cleanly_and_the_next_run_continues(account, tmp_path, bundle):
    url, reference = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    first = replicate(account, url, bundle, ["persons", "deals"], max_tokens=25)  # fields 10, a page 10
    assert first.spent == 20 and first.stopped
    assert first.tallies["persons"].status == "stopped (--max-tokens)"
    assert first.tallies["deals"].status == "not started (--max-tokens)"
    replicate(account, url, bundle, ["persons", "deals"])
    replicate(account, reference, bundle, ["persons", "deals"])
    assert table_contents(url) == table_contents(reference)


@pytest.mark.slow
def test_killed_at_random_points_the_runs_end_in_the_same_database(account, database, bundle, tmp_path):
    """SIGKILL a `replicate` process 10 times at seeded random points (a few pages in, then up to 50 ms
    later: in a fetch, a write or a commit), then let one finish: the replica is the one an
    uninterrupted run makes, with no duplicate and no gap."""
    names = "persons,deals,deal_products,stages"
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    replicate(account, reference, bundle, names.split(","))
    env = {"PIPEDRIVE_API_TOKEN": SANDBOX_TOKEN, "PIPEDRIVE_BASE_URL": account.base_url, "PATH": "/usr/bin:/bin"}
    rng = random.Random(20261129)
    killed = 0
    for attempt in range(10):
        log = tmp_path / f"events-{attempt}.jsonl"
        command = [sys.executable, "-m", "pipedrive_connect.cli", "replicate", "--to", database, "--quiet"]
        command += ["--entities", names, "--log-json", str(log)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pages, deadline = rng.randint(1, 3), time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if log.exists() and log.read_text().count('"event": "page"') >= pages:
                time.sleep(rng.uniform(0, 0.05))
                process.send_signal(signal.SIGKILL)
                killed += 1
                break
            time.sleep(0.002)
        process.wait(timeout=30)
    assert killed >= 3  # the first runs cannot finish 13 pages within 1-3 (the later ones may)
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert table_contents(database) == table_contents(reference)


def test_singer_messages_are_valid_and_the_state_carries_over(account, tmp_path, bundle):
    state = tmp_path / "state.json"
    out = io.StringIO()
    replicate(account, "", bundle, ["deal_fields", "persons", "deals"], sink=SingerSink(out, str(state)))
    streams = check_singer(out.getvalue())
    assert streams["deals"] == SIZE["deals"] and streams["persons"] == SIZE["persons"]
    assert streams["person_emails"] == SIZE["persons"]
    last_state = [json.loads(line) for line in out.getvalue().splitlines()][-1]["value"]
    assert json.loads(state.read_text()) == last_state and last_state["bookmarks"]["deals"]["since"]

    api(account, "PATCH", "/api/v2/deals/3", {"title": "Moved on"})
    again = io.StringIO()
    replicate(account, "", bundle, ["deal_fields", "persons", "deals"], sink=SingerSink(again, str(state)))
    records = [m for m in map(json.loads, again.getvalue().splitlines()) if m["type"] == "RECORD"]
    deals = [m["record"] for m in records if m["stream"] == "deals"]
    assert {"id": 3, "title": "Moved on"}.items() <= next(d for d in deals if d["id"] == 3).items()
    assert len(deals) < 10  # only the changes and the overlap window
    check_singer(again.getvalue())


SINGER = {  # the shape of each Singer message
    "SCHEMA": {
        "type": "object",
        "required": ["type", "stream", "schema", "key_properties"],
        "properties": {
            "stream": {"type": "string", "minLength": 1},
            "schema": {"type": "object", "required": ["type", "properties"]},
            "key_properties": {"type": "array", "items": {"type": "string"}},
            "bookmark_properties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "RECORD": {
        "type": "object",
        "required": ["type", "stream", "record"],
        "properties": {
            "stream": {"type": "string"},
            "record": {"type": "object"},
            "time_extracted": {"type": "string", "format": "date-time"},
        },
    },
    "STATE": {"type": "object", "required": ["type", "value"], "properties": {"value": {"type": "object"}}},
}


def check_singer(text: str) -> dict[str, int]:
    """Every line one Singer message of the right shape; a record only after its stream's SCHEMA, and
    valid against it. Returns the records per stream."""
    schemas: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        message = json.loads(line)
        assert message.get("type") in SINGER, f"line {number}: {line[:80]}"
        jsonschema.validate(message, SINGER[message["type"]], format_checker=jsonschema.FormatChecker())
        if message["type"] == "SCHEMA":
            jsonschema.Draft7Validator.check_schema(message["schema"])
            assert set(message["key_properties"]) <= set(message["schema"]["properties"])
            schemas[message["stream"]] = message["schema"]
        elif message["type"] == "RECORD":
            assert message["stream"] in schemas, f"line {number}: a record before its schema"
            jsonschema.validate(
                message["record"], schemas[message["stream"]], format_checker=jsonschema.FormatChecker()
            )
            counts[message["stream"]] = counts.get(message["stream"], 0) + 1
    return counts


# ---- the command ----------------------------------------------------------------------------
def run_cli(*args: str, base_url: str = "http://127.0.0.1:9") -> subprocess.CompletedProcess:
    env = {"PIPEDRIVE_API_TOKEN": SANDBOX_TOKEN, "PIPEDRIVE_BASE_URL": base_url, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "pipedrive_connect.cli", "replicate", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args,message",
    [
        ((), "--to URL is required"),
        (("--to", "sqlite:///x.db", "--entities", "dealz"), "unknown entity 'dealz'; choose from"),
        (("--to", "sqlite:///x.db", "--state", "s.json"), "--state is for --format singer"),
        (("--to", "nosuchdb://user:s3cret@host/x"), "--to: not a database URL"),
        (("--to", "sqlite:////nonexistent/dir/x.db"), "--to: cannot open the database: unable to open database file"),
        (("--to", "sqlite:///x.db", "--max-tokens", "0"), "--max-tokens must be at least 1"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli(*args)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "s3cret" not in result.stderr


def test_the_command_prints_a_summary_logs_events_and_lists_cursors(account, tmp_path):
    url, log = f"sqlite:///{tmp_path / 'crm.db'}", tmp_path / "events.jsonl"
    result = run_cli("--to", url, "--entities", "stages,persons", "--log-json", str(log), base_url=account.base_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["entity", "mode", "inserted", "updated", "deleted", "calls", "tokens", "status"]
    calls = -(-SIZE["persons"] // 500) + 1  # the pages and the custom-field definitions
    assert lines[2].split() == [
        "persons",
        "incremental",
        str(SIZE["persons"]),
        "0",
        "0",
        str(calls),
        str(calls * 10),
        "done",
    ]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events][0] == "run_started" and events[-1]["event"] == "run_done"
    assert sum(e["rows"] for e in events if e["event"] == "page" and e["entity"] == "persons") == SIZE["persons"]
    listed = json.loads(run_cli("--list", "--to", url).stdout)
    assert {e["entity"]: e["mode"] for e in listed} == {e.name: e.mode for e in ENTITIES}
    cursor = next(e["cursor"] for e in listed if e["entity"] == "persons")
    assert cursor["since"] == max((p["update_time"] for p in account.store.rows("persons")), key=parse_time)
    assert SANDBOX_TOKEN not in result.stdout + result.stderr + log.read_text()


@requires_spec
def test_every_request_a_replication_sends_is_one_the_official_spec_accepts(bundle, tmp_path):
    """All entities, incremental and per-deal feeds included, on a small account: each distinct
    (operation, query names) the sandbox saw is validated against Pipedrive's spec."""
    with Sandbox(token=SANDBOX_TOKEN, generate={"deals": 3, "persons": 3, "customFields": 2}, seed=2) as sb:
        names = [e.name for e in ENTITIES]
        replicate(sb, f"sqlite:///{tmp_path / 'r.db'}", bundle, names)
        replicate(sb, f"sqlite:///{tmp_path / 'r.db'}", bundle, names)  # the incremental requests too
        seen = {}
        for entry in sb.request_log:
            assert entry["status"] == 200, entry
            seen.setdefault((entry["operation"], tuple(sorted(entry["query"]))), entry)
    assert {op for op, _ in seen} >= {"getDeals", "getDealsProducts", "getDealUpdates", "getDealParticipants"}
    for entry in seen.values():
        version = "v2" if entry["path"].startswith("/api/v2") else "v1"
        validate_request(version, "GET", entry["path"], entry["query"], headers={"x-api-token": "t"})


def test_deal_participants_are_a_child_table_of_the_changed_deals(bundle, tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with Sandbox(token=SANDBOX_TOKEN, generate={"persons": 20, "deals": 5}, seed=3) as sb:
        for deal, person in ((1, 11), (1, 12), (4, 13)):
            api(sb, "POST", f"/api/v1/deals/{deal}/participants", {"person_id": person})
        first = replicate(sb, url, bundle, ["deals", "deal_participants"])
        api(sb, "PATCH", "/api/v2/deals/4", {"title": "Changed"})
        removed = next(p for p in sb.store.rows("dealParticipants") if p["person_id"] == 13)
        api(sb, "DELETE", f"/api/v1/deals/4/participants/{removed['id']}")
        second = replicate(sb, url, bundle, ["deals", "deal_participants"])
    assert first.tallies["deal_participants"].usage.calls == 5  # one per deal
    assert second.tallies["deal_participants"].usage.calls == 1  # only the changed deal
    engine = sa.create_engine(engine_url(url))
    with engine.connect() as conn:
        query = "SELECT deal_id, person_id, _deleted_at IS NULL FROM deal_participants ORDER BY person_id"
        rows = [tuple(r) for r in conn.execute(sa.text(query))]
    engine.dispose()
    assert rows == [(1, 11, 1), (1, 12, 1), (4, 13, 0)]


def test_a_column_a_killed_run_added_without_its_mapping_is_taken_over(tmp_path):
    """SQLite commits ALTER TABLE on its own, outside the page's transaction: a run killed after adding a
    custom-field column but before recording its mapping leaves the column; the next run adopts it."""
    url = f"sqlite:///{tmp_path / 'replica.db'}"
    deals = BY_NAME["deals"]
    first = Database(url)
    first.table(deals)
    with first.engine.begin() as conn:  # what the killed run left: the column, no mapping
        conn.execute(sa.text("ALTER TABLE deals ADD COLUMN tier TEXT"))
    first.close()
    again = Database(url)
    definition = {"field_code": "abc123", "field_name": "Tier", "field_type": "varchar"}
    [column] = again.update_custom(deals, [definition])
    assert column.column == "tier"
    again.write(deals, [{"id": 1, "custom_fields": {"abc123": "Gold"}}], {}, marker="run")
    with again.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT tier FROM deals WHERE id = 1")).scalar() == "Gold"
        mapped = conn.execute(sa.text("SELECT column_name FROM _replication_custom_fields")).scalars().all()
    assert mapped == ["tier"]
    again.close()
