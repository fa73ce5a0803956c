"""Every live operation of Pipedrive's official specs is called by an action or deliberately left out.

An action covers the operation its declaration names (`api` + `operation`); `left-out.yaml` at the repo
root lists the others, "VERSION operationId" -> the reason a user would read. Deprecated operations need
no action. The specs are read directly here (not through pipedrive_connect.coverage, which renders
docs/coverage.md), so the two cannot agree on a mistake; the last test checks the rendered page.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml

from pipedrive_connect import coverage
from pipedrive_connect.bundle import Bundle
from pipedrive_connect.cli import main
from tests.support.openapi import requires_spec, spec_dir

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = Bundle.load(ROOT)
METHODS = ("get", "post", "put", "patch", "delete")


@functools.cache
def spec_operations() -> dict[str, dict]:
    """ "VERSION operationId" -> {tags, deprecated} for every operation of both specs."""
    out = {}
    for version in ("v1", "v2"):
        with open(spec_dir() / f"{version}.yaml", encoding="utf-8") as fh:
            spec = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        for item in spec["paths"].values():
            for method in METHODS:
                op = item.get(method)
                if isinstance(op, dict) and op.get("operationId"):
                    out[f"{version} {op['operationId']}"] = {
                        "tags": op.get("tags") or [],
                        "deprecated": bool(op.get("deprecated")),
                    }
    return out


def covered_keys() -> set[str]:
    return {f"{a.api} {a.operation}" for a in BUNDLE.actions.values() if not a.removed and a.operation}


def left_out() -> dict:
    return yaml.safe_load((ROOT / "left-out.yaml").read_text(encoding="utf-8")) or {}


@requires_spec
def test_every_live_operation_is_covered_or_left_out_with_a_reason():
    live = {key for key, op in spec_operations().items() if not op["deprecated"]}
    reasons = {k for k, v in left_out().items() if isinstance(v, str) and v.strip()}
    missing = sorted(live - covered_keys() - reasons)
    assert not missing, f"live operations no action calls and left-out.yaml does not explain: {missing}"


def test_left_out_entries_are_well_formed():
    entries = left_out()
    assert entries, "left-out.yaml lists nothing (at least the OAuth handshake is left out)"
    for key, reason in entries.items():
        version, _, operation = str(key).partition(" ")
        assert version in ("v1", "v2") and operation and " " not in operation, f"{key!r}: want 'VERSION operationId'"
        assert isinstance(reason, str) and reason.strip(), f"{key}: give the reason a user would read"


@requires_spec
def test_left_out_entries_name_real_operations_no_action_calls():
    entries = set(left_out())
    unknown = sorted(entries - set(spec_operations()))
    assert not unknown, f"left-out.yaml names operations the specs do not have: {unknown}"
    called = sorted(entries & covered_keys())
    assert not called, f"left-out.yaml names operations an action calls: drop them from the file: {called}"


@requires_spec
def test_the_oauth_handshake_is_left_out():
    oauth = {key for key, op in spec_operations().items() if "Oauth" in op["tags"]}
    assert oauth and oauth <= set(left_out())


@requires_spec
def test_coverage_page_is_current():
    """docs/coverage.md is what `pipedrive-connect docs` renders now (CI: `docs --check`)."""
    page = (ROOT / "docs" / "coverage.md").read_text(encoding="utf-8")
    assert page == coverage.render(BUNDLE, spec_dir()), "run `pipedrive-connect docs` and commit docs/coverage.md"


@requires_spec
def test_coverage_page_counts_what_this_test_counts():
    """The rendered totals agree with an independent count from the raw specs."""
    ops = spec_operations()
    live = [k for k, op in ops.items() if not op["deprecated"]]
    covered = [k for k in live if k in covered_keys()]
    left = [k for k in live if k not in covered_keys() and k in left_out()]
    page = coverage.render(BUNDLE, spec_dir())
    expected = (
        f"{len(covered) + len(left)} of {len(live)} live operations are covered or deliberately left out "
        f"({len(covered)} covered, {len(left)} left out, {len(live) - len(covered) - len(left)} not covered); "
        f"{len(ops) - len(live)} deprecated operations besides."
    )
    assert expected in page


def test_left_out_record_is_read_as_a_mapping(tmp_path):
    (tmp_path / "left-out.yaml").write_text('"v1 authorize": "OAuth handshake"\n', encoding="utf-8")
    assert coverage.left_out(tmp_path) == {"v1 authorize": "OAuth handshake"}
    (tmp_path / "left-out.yaml").write_text("- v1 authorize\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must map"):
        coverage.left_out(tmp_path)


@requires_spec
def test_docs_command_writes_and_checks_the_coverage_page(tmp_path, capsys):
    out = tmp_path / "docs" / "actions.md"
    args = ["--bundle", str(ROOT), "docs", "--out", str(out), "--spec-dir", str(spec_dir())]
    assert main(args) == 0
    assert (tmp_path / "docs" / "coverage.md").read_text(encoding="utf-8") == coverage.render(BUNDLE, spec_dir())
    (tmp_path / "docs" / "coverage.md").write_text("stale\n", encoding="utf-8")
    assert main([*args, "--check"]) == 1
    assert "coverage.md is out of date" in capsys.readouterr().err


def test_docs_without_the_specs_leaves_the_coverage_page_alone(tmp_path, capsys):
    out = tmp_path / "actions.md"
    assert main(["--bundle", str(ROOT), "docs", "--out", str(out), "--spec-dir", str(tmp_path / "none")]) == 0
    assert not (tmp_path / "coverage.md").exists()
    assert "coverage.md left as it is: no official spec" in capsys.readouterr().err
