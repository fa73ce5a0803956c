"""Running as a process, seed files, SQLite persistence and bulk generation."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from pipedrive_connect.sandbox import Sandbox, create_app

from .helpers import Api

SRC = Path(__file__).resolve().parents[2] / "src"
SAMPLE = SRC / "pipedrive_connect" / "sandbox" / "sample_data.json"


def test_sigterm_stops_the_module_cleanly():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipedrive_connect.sandbox", "--port", "0", "--token", "T"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline()
        assert "http://127.0.0.1:" in first
        base_url = first.split()[-1]
        assert proc.stdout.readline().strip() == "API token: T"
        r = requests.get(base_url + "/api/v1/users/me", headers={"x-api-token": "T"}, timeout=5)
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_port_in_use_is_one_line_and_exit_2(make_sandbox):
    taken = make_sandbox().base_url.rsplit(":", 1)[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "pipedrive_connect.sandbox", "--port", taken, "--token", "T"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"pipedrive-connect sandbox: cannot listen on 127.0.0.1:{taken}: ")
    assert done.stderr.count("\n") == 1


def test_sample_seed_file(make_sandbox):
    api = Api(make_sandbox(data=SAMPLE))
    me = api.data("GET", "/v1/users/me")
    assert me["name"] == "Dana Demo" and me["company_domain"] == "sandbox"
    deal = api.data("GET", "/api/v2/deals/1")
    assert deal["pipeline_id"] == 1 and deal["custom_fields"]["5f2c8a1e9b3d4c7a8e6f1a2b3c4d5e6f7a8b9c0d"] == 11
    assert [s["name"] for s in api.data("GET", "/api/v2/stages")][0] == "Lead in"
    assert api.data("GET", "/api/v2/products/1")["prices"][0]["price"] == 49


def test_sqlite_store_survives_a_restart(tmp_path):
    db = tmp_path / "sandbox.sqlite"
    with Sandbox(data=db) as sb:
        deal = Api(sb).data("POST", "/api/v2/deals", json={"title": "persisted"})
    with Sandbox(data=db) as sb:
        api = Api(sb)
        assert api.data("GET", f"/api/v2/deals/{deal['id']}")["title"] == "persisted"
        assert api.data("POST", "/api/v2/deals", json={"title": "next"})["id"] == deal["id"] + 1
        api.data("DELETE", f"/api/v2/deals/{deal['id']}")
    with Sandbox(data=db) as sb:
        assert Api(sb).get(f"/api/v2/deals/{deal['id']}").status_code == 404


def test_generation_is_deterministic():
    first = create_app(seed=3, generate={"deals": 20000, "persons": 500, "organizations": 50})
    assert first.store.count("deals") == 20000
    second = create_app(seed=3, generate={"deals": 20000, "persons": 500, "organizations": 50})
    assert first.store.get("deals", 12345) == second.store.get("deals", 12345)
    with pytest.raises(ValueError):
        create_app(generate={"unicorns": 1})


def test_seeded_lead_ids_are_reproducible():
    ids = []
    for _ in range(2):
        with Sandbox(seed=5) as sb:
            api = Api(sb)
            person = api.data("POST", "/api/v2/persons", json={"name": "p"})
            ids.append(api.data("POST", "/v1/leads", status=201, json={"title": "l", "person_id": person["id"]})["id"])
    assert ids[0] == ids[1]
