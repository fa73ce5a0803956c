"""`pipedrive-connect replicate`: its options, and the command that wires the runtime, a sink and the loop.

The work is in the `replication` package; this module is the entry point (the terminal's progress
bars, the JSON Lines log, the summary table, exit codes).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "copy Pipedrive into a database (SQLite or PostgreSQL), incrementally, resumable"
EPILOG = """examples:
  pipedrive-connect replicate --to sqlite:///pipedrive.db
  pipedrive-connect replicate --to postgresql://user@127.0.0.1:5432/crm --entities deals,persons
  pipedrive-connect replicate --to sqlite:///pipedrive.db --max-tokens 20000   (stops cleanly; rerun to continue)
  pipedrive-connect replicate --list --to sqlite:///pipedrive.db                (entities, modes, cursors)
  pipedrive-connect replicate --format singer --state state.json | target-postgres

The first run copies everything; later runs read only what changed (updated_since, with an overlap),
deleted deals, and new custom fields (a new column each). Each page and its cursor commit together:
a run killed at any point resumes with no gap and no duplicate. See docs/replicate.md."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", metavar="URL", help="sqlite:///FILE or postgresql://USER:PASS@HOST:PORT/DB")
    p.add_argument(
        "--entities", metavar="E1,E2", help="only these entities (default: all but deal_participants, deal_flow)"
    )
    p.add_argument("--full", action="store_true", help="read everything again and soft-delete what is gone")
    p.add_argument(
        "--state", metavar="FILE", help="with --format singer: where the cursors are kept between runs (JSON)"
    )
    p.add_argument("--max-tokens", type=int, metavar="N", help="stop cleanly before spending more than N tokens")
    p.add_argument(
        "--format",
        choices=("db", "singer"),
        default="db",
        help="db (default): write --to; singer: SCHEMA/RECORD/STATE messages on stdout",
    )
    p.add_argument("--overlap", type=float, default=60.0, metavar="SECONDS", help="re-read window (default 60)")
    p.add_argument("--list", action="store_true", help="show each entity with its mode and cursor, then exit")
    p.add_argument("--log-json", metavar="FILE", help="append progress events as JSON Lines to FILE")
    p.add_argument("--quiet", action="store_true", help="no progress bars on stderr")


def command(args, cli) -> int:
    """Run `replicate`; `cli` is the command-line module that called (its UsageError and helpers)."""
    from .errors import StepError
    from .replication.entities import ENTITIES
    from .replication.sync import Replicator, select

    names = [n.strip() for n in args.entities.split(",") if n.strip()] if args.entities else None
    UsageError = cli.UsageError
    try:
        entities = select(names)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.format == "db" and not args.to:
        raise UsageError("--to URL is required (e.g. --to sqlite:///pipedrive.db), or --format singer")
    if args.format == "db" and args.state:
        raise UsageError("--state is for --format singer; a database keeps its cursors in _replication_state")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    sink = _sink(args, UsageError)
    if args.list:
        try:
            states = sink.states()
        finally:
            sink.close()
        cli._print(
            [
                {"entity": e.name, "mode": e.mode, "default": e.default, "cursor": states.get(e.name), "note": e.note}
                for e in ENTITIES
            ]
        )
        return 0
    runtime = cli._runtime(args)
    if runtime.connection is None:
        raise UsageError("no connection: set PIPEDRIVE_API_TOKEN (and PIPEDRIVE_BASE_URL) or pass --connection FILE")
    try:
        log = open(args.log_json, "a", encoding="utf-8") if args.log_json else None
    except OSError as exc:
        raise UsageError(f"--log-json: cannot write {args.log_json}: {exc.strerror}") from None
    replicator = Replicator(
        runtime,
        sink,
        entities,
        full=args.full,
        max_tokens=args.max_tokens,
        overlap=args.overlap,
        emit=_logger(log),
        progress=None if args.quiet or not sys.stderr.isatty() else _bar,
    )
    from sqlalchemy.exc import DBAPIError

    try:
        replicator.run()
        failed = None
    except StepError as exc:
        failed = runtime.redactor.text(f"{exc.kind}: {exc.message}")
    except DBAPIError as exc:  # the driver's own words, never the URL (which may hold a password)
        failed = f"database: {str(exc.orig).splitlines()[0][:200]}"
    finally:
        sink.close()
        if log:
            log.close()
    out = sys.stderr if args.format == "singer" else sys.stdout
    out.write(summary([t.row(name) for name, t in replicator.tallies.items()]) + "\n")
    if failed:
        sys.stderr.write(f"pipedrive-connect replicate: stopped: {failed}; rerun to continue from here\n")
        return 1
    if replicator.stopped:
        out.write(f"stopped before --max-tokens {args.max_tokens}; run again to continue\n")
    return 0


def _sink(args, usage_error):
    if args.format == "singer":
        from .replication.singer import SingerSink

        return SingerSink(sys.stdout, args.state)
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from .replication.schema import Database

    try:
        return Database(args.to)
    except ArgumentError:  # its message quotes the URL, which may hold a password
        raise usage_error("--to: not a database URL; give sqlite:///FILE or postgresql://USER@HOST:PORT/DB") from None
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0][:200]
        raise usage_error(f"--to: cannot open the database: {reason}") from None


def _bar(label: str):
    from tqdm import tqdm

    return tqdm(desc=f"{label:<20}", unit=" rows", file=sys.stderr)


def _logger(log):
    def emit(event: dict[str, Any]) -> None:
        if log is not None:
            log.write(json.dumps(event) + "\n")
            log.flush()

    return emit


def summary(rows: list[dict[str, Any]]) -> str:
    """The end-of-run table: rows inserted, updated and deleted per entity, API calls and tokens."""
    heads = ("entity", "mode", "inserted", "updated", "deleted", "calls", "tokens", "status")
    rows = rows + [
        {"entity": "total", "mode": "", "status": ""}
        | {k: sum(r[k] for r in rows) for k in ("inserted", "updated", "deleted", "calls", "tokens")}
    ]
    widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in heads}
    line = "  ".join(h.ljust(widths[h]) if h in ("entity", "mode", "status") else h.rjust(widths[h]) for h in heads)
    body = [
        "  ".join(
            str(r[h]).ljust(widths[h]) if h in ("entity", "mode", "status") else str(r[h]).rjust(widths[h])
            for h in heads
        )
        for r in rows
    ]
    return "\n".join([line.rstrip(), *(b.rstrip() for b in body)])
