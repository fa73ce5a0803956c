"""The `run` path loads only what a step needs, and the shortcuts it takes answer as the engines do.

Declarations come from a cache only while every file is byte for byte what was checked; Jinja, jsonschema,
PyYAML, tenacity, tqdm and the OAuth library stay unimported by a plain `run addDeal`; the plain-path
template lookup and the plain validity check agree with Jinja and jsonschema wherever they answer.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipedrive_connect.bundle import Bundle, DeclarationCache, default_root
from pipedrive_connect.errors import BundleError
from pipedrive_connect.inputs import _NO_ANSWER, PlainCheck, _compile, _plain_path, _plain_render, render

HEAVY = ("jinja2", "jsonschema", "yaml", "tenacity", "tqdm", "authlib", "requests_toolbelt")


# ---- the declaration cache --------------------------------------------------------------------
@pytest.fixture
def copy(tmp_path) -> Path:
    root = default_root()
    shutil.copy(root / "connector.yaml", tmp_path / "connector.yaml")
    for folder in ("actions", "datasources", "connections", "schemas"):
        shutil.copytree(root / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def cache_of(root: Path) -> Path:
    cache = DeclarationCache.for_root(root)
    assert cache is not None
    return cache.path


def test_a_second_load_is_served_from_the_cache_with_the_same_declarations(copy):
    first = Bundle.load(copy)
    assert cache_of(copy).is_file()
    stamp = cache_of(copy).stat().st_mtime_ns
    second = Bundle.load(copy)
    assert cache_of(copy).stat().st_mtime_ns == stamp  # a hit writes nothing
    assert {k: a.decl for k, a in second.actions.items()} == {k: a.decl for k, a in first.actions.items()}
    assert second.manifest == first.manifest and second.connections == first.connections
    assert [a.file for a in second.actions.values()] == [a.file for a in first.actions.values()]


def test_an_edited_declaration_is_read_again(copy):
    Bundle.load(copy)
    path = copy / "actions" / "deals.yaml"
    path.write_text(path.read_text().replace("label: Add Deal", "label: Add a Deal", 1))
    assert Bundle.load(copy).action("addDeal").label == "Add a Deal"


def test_an_edit_that_breaks_a_file_fails_as_without_a_cache(copy):
    Bundle.load(copy)
    path = copy / "actions" / "deals.yaml"
    data = yaml.safe_load(path.read_text())
    data["addDeal"]["method"] = "FETCH"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(BundleError, match="deals.yaml"):
        Bundle.load(copy)


def test_a_new_file_matching_the_manifest_glob_is_seen(copy):
    Bundle.load(copy)
    source = yaml.safe_load((copy / "actions" / "deals.yaml").read_text())
    (copy / "actions" / "extra.yaml").write_text(yaml.safe_dump({"addDealAgain": source["addDeal"]}))
    shutil.copy(copy / "schemas" / "addDeal.json", copy / "schemas" / "addDealAgain.json")
    assert "addDealAgain" in Bundle.load(copy).actions


def test_a_changed_manifest_schema_or_manifest_is_a_miss(copy):
    Bundle.load(copy)
    (copy / "connector.yaml").write_text((copy / "connector.yaml").read_text() + "\n# edited\n")
    entry = json.loads(cache_of(copy).read_text())
    Bundle.load(copy)
    assert json.loads(cache_of(copy).read_text())["head"] != entry["head"]


def test_a_corrupt_or_foreign_cache_file_is_ignored(copy):
    Bundle.load(copy)
    cache_of(copy).write_text("{not json")
    assert "addDeal" in Bundle.load(copy).actions
    entry = json.loads(cache_of(copy).read_text())
    entry["files"]["action"] = []  # a tampered entry for other bytes: the hashes no longer match
    entry["hashes"]["actions/deals.yaml"] = "0" * 64
    cache_of(copy).write_text(json.dumps(entry))
    assert "addDeal" in Bundle.load(copy).actions


def test_the_cache_can_be_turned_off(copy, monkeypatch):
    monkeypatch.setenv("PIPEDRIVE_CONNECT_CACHE", "off")
    assert DeclarationCache.for_root(copy) is None
    assert "addDeal" in Bundle.load(copy).actions


def test_content_json_would_change_is_not_cached(tmp_path):
    cache = DeclarationCache(tmp_path / "c.json")
    cache.put(b"head", {}, {}, {"action": [["a.yaml", {1: "integer key"}]]})
    assert not cache.path.exists()
    cache.put(b"head", {}, {}, {"action": [["a.yaml", {"k": "v"}]]})
    assert cache.get(b"head") == ({}, {}, {"action": [["a.yaml", {"k": "v"}]]})
    assert cache.get(b"other head") is None


# ---- what `run` imports -------------------------------------------------------------------------
class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = json.dumps({"success": True, "data": {"id": 7, "title": "Order"}}).encode()

    def do_POST(self) -> None:
        self.server.posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))  # type: ignore[attr-defined]
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    httpd.posted = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


PROBE = """
import json, sys
from pipedrive_connect import cli
code = cli.main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
sys.stderr.write("\\nIMPORTED " + json.dumps([code, sorted({{m.split(".")[0] for m in heavy}})]) + "\\n")
"""


def run_cli(server, tmp_path, *args: str) -> tuple[int, list[str]]:
    env = {
        **os.environ,
        "PIPEDRIVE_API_TOKEN": "tok-cold-0123456789",
        "PIPEDRIVE_BASE_URL": f"http://127.0.0.1:{server.server_port}",
        "PIPEDRIVE_CONNECT_CACHE": str(tmp_path / "cache"),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("IMPORTED ")]
    assert line, out.stderr[-2000:]
    code, imported = json.loads(line[-1].split(" ", 1)[1])
    return code, imported


def test_run_add_deal_imports_no_template_engine_validator_or_yaml(server, tmp_path):
    plain = ("run", "addDeal", "--input", "title=Order", "--input", "value=12")
    code, first = run_cli(server, tmp_path, *plain)  # fills the declaration cache: YAML and jsonschema load
    assert code == 0 and {"yaml", "jsonschema"} <= set(first)
    code, imported = run_cli(server, tmp_path, *plain)
    assert code == 0 and imported == []
    code, imported = run_cli(
        server,
        tmp_path,
        "run",
        "addDeal",
        "--job",
        str(job(tmp_path)),
        "--input",
        "title={{ job.data.title }}",
        "--input",
        "value=12",
    )
    assert code == 0 and imported == []  # a plain {{ a.b }} is looked up without Jinja
    assert [p["title"] for p in server.posted] == ["Order", "Order", "From the job"]


def test_a_template_with_a_filter_loads_jinja_and_bad_input_loads_jsonschema(server, tmp_path):
    run_cli(server, tmp_path, "run", "addDeal", "--input", "title=Order")
    code, imported = run_cli(
        server, tmp_path, "run", "addDeal", "--job", str(job(tmp_path)), "--input", "title={{ job.data.title | upper }}"
    )
    assert code == 0 and imported == ["jinja2"]
    code, imported = run_cli(server, tmp_path, "run", "addDeal", "--input", "title=Order", "--input", "value=lots")
    assert code == 1 and imported == ["jsonschema"]  # the wording of the error comes from jsonschema
    assert [p["title"] for p in server.posted] == ["Order", "FROM THE JOB"]


def job(tmp_path: Path) -> Path:
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"data": {"title": "From the job"}}))
    return path


# ---- the shortcuts agree with the engines -------------------------------------------------------
KEYS = st.sampled_from(["a", "b", "items", "keys", "_x", "title", "0"])
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(KEYS, TREES, max_size=4), path=st.lists(KEYS, min_size=1, max_size=3), spaces=st.booleans())
def test_the_plain_path_lookup_renders_what_jinja_renders(data, path, spaces):
    source = "{{ " + ".".join(["job", *path]) + " }}" if spaces else "{{" + ".".join(["job", *path]) + "}}"
    context = {"job": data, "steps": {}}
    parts = _plain_path(source)
    if parts is None:  # "0" is no identifier: Jinja reads it as an index
        assert "0" in path
        return
    answer = _plain_render(parts, context)
    if answer is _NO_ANSWER:
        return
    assert answer == _compile(source).render(context)
    assert render(source, context) == answer


@pytest.mark.parametrize(
    "source", ["{{ job.data.x }}x", "{{ job.data.x | upper }}", "{{ true }}", "{{ job.data.items }}"]
)
def test_what_is_not_a_plain_lookup_goes_to_jinja(source):
    context = {"job": {"data": {"x": "v", "items": "i"}}, "steps": {}}
    parts = _plain_path(source)
    assert parts is None or _plain_render(parts, context) is _NO_ANSWER


VALUES = st.one_of(LEAVES, st.lists(LEAVES, max_size=3), st.dictionaries(st.text(max_size=4), LEAVES, max_size=3))


@pytest.fixture(scope="module")
def schemas():
    loaded = Bundle.load()
    return [(a.schema, a.validator) for a in loaded.actions.values() if not a.removed]


def test_the_plain_check_vouches_for_a_typical_step(bundle):
    action = bundle.action("addDeal")
    assert PlainCheck(action.schema)({"title": "Order", "value": 12, "status": "open", "labelIds": [1, 2]})
    assert not PlainCheck(action.schema)({"title": "Order", "value": float("nan")})
    assert not PlainCheck(action.schema)({"title": "Order", "customFields": {"x": float("inf")}})


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_the_plain_check_says_valid_only_where_jsonschema_does(schemas, data):
    schema, validator = data.draw(st.sampled_from(schemas))
    props = schema.get("properties", {})
    names = sorted(props) + ["unknownInput"]
    inputs = {}
    for name in data.draw(st.lists(st.sampled_from(names), max_size=5)) + list(schema.get("required", [])):
        inputs[name] = data.draw(st.one_of(likely(props.get(name, {})), VALUES))
    if PlainCheck(schema)(inputs):
        assert validator.is_valid(inputs), (schema.get("title"), inputs)


def likely(prop: dict) -> st.SearchStrategy:
    """Values of the type an input asks for, so that many drawn steps are valid and the check is tested."""
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    kinds = {
        "string": st.text(max_size=6) | st.sampled_from(["EUR", "2024-01-31", "a@b.c"]),
        "integer": st.integers(-3, 10**6),
        "number": st.integers(-3, 200) | st.floats(-5, 200),
        "boolean": st.booleans(),
        "array": st.lists(st.integers(-1, 50) | st.text(max_size=3), max_size=3),
        "object": st.dictionaries(st.text(max_size=4), LEAVES, max_size=3),
        "null": st.none(),
    }
    types = prop.get("type") or []
    types = [types] if isinstance(types, str) else types
    return st.one_of([kinds[t] for t in types if t in kinds] or [VALUES])


def test_over_many_typed_steps_the_plain_check_vouches_often_and_never_wrongly(schemas):
    """Deterministic companion of the property test: typed values of each input, so that the check
    must say "valid" for many steps (the fast path is used) and is right each time it does."""
    rng = random.Random(17)
    samples = {
        "string": ["Order", "", "EUR", "2024-01-31"],
        "integer": [1, 0, 42, -1],
        "boolean": [True, False],
        "number": [1, 2.5, 0, 150],
        "array": [[], [1, 2], ["a"]],
        "object": [{}, {"k": "v"}],
        "null": [None],
    }
    vouched = 0
    for schema, validator in schemas:
        props = schema.get("properties", {})
        for _ in range(10):
            inputs = {}
            for name in rng.sample(sorted(props), min(3, len(props))) + list(schema.get("required", [])):
                prop = props[name]
                types = prop.get("type") or ["string"]
                options = (
                    list(prop["enum"])
                    if "enum" in prop
                    else samples[rng.choice([types] if isinstance(types, str) else types)]
                )
                inputs[name] = rng.choice(options)
            if PlainCheck(schema)(inputs):
                vouched += 1
                assert validator.is_valid(inputs), (schema.get("title"), inputs)
    assert vouched > len(schemas)  # about a third of the drawn steps or more take the fast path
