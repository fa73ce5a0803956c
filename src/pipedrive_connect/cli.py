"""The `pipedrive-connect` command line.

Exit status: 0 success, 1 the job went to the error route (or a check failed),
2 usage errors (unknown action, malformed option, unreadable file), 3 a fault in the
connector itself (one line; PIPEDRIVE_CONNECT_DEBUG=1 adds the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

EPILOG = """examples:
  pipedrive-connect demo                          run the sample flow on the local sandbox
  pipedrive-connect actions --json                list every action
  pipedrive-connect describe addDeal              inputs, types and examples of one action
  pipedrive-connect run addDeal --input title="Order 1042" --input value=120
  pipedrive-connect picklist selectPerson --search jane
  pipedrive-connect sandbox --port 8765 --token devtoken

connection: PIPEDRIVE_API_TOKEN and PIPEDRIVE_BASE_URL (https://COMPANY.pipedrive.com, or the
sandbox's http://127.0.0.1:PORT), or --connection FILE with {type: apiToken, api_token, base_url}."""


WATCH_EPILOG = """re-dropping: a file whose name was used before is a new job; its outputs get a numbered
name (order-7-2.json) and say which file they came from ("input").
bad files: a file that is not a valid job goes to error/ unchanged, with <name>.reason.json beside it.
outages: network errors, 5xx and 429 hold the job and retry it (--retry-for); a refused token or a
spent budget pauses the runner until the connection works again (the connection file is re-read).
See docs/flows.md for the whole story."""


NEW_ACTION_EPILOG = """writes (in the checkout given by --bundle, default the current one):
  actions/R.yaml          the declaration, appended: api, method, path, operation, cost, paging
  schemas/KEY.json        the inputs: wire names, places (x-wire, x-in), types, choices, required, an example
  tests/requests/R.yaml   a request case for the example, appended
Titles, descriptions and the action's description say "TODO: describe in your own words": write them
yourself (the spec's text is not copied); the bundle-wide tests fail until no TODO is left.
example:
  pipedrive-connect new-action postAdditionalDiscount --key addDealDiscount --resource deals"""


CHECK_TIMEOUT = (3.0, 5.0)  # check-connection: seconds to connect, then to get the answer


class UsageError(Exception):
    pass


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{option} takes NAME=VALUE, got {item!r}")
        out[name.strip()] = value
    return out


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} file {path} is not valid JSON: {exc}") from None


def _bundle(args):
    from .bundle import Bundle

    return Bundle.load(args.bundle)


def _runtime(args, out_dir: str | None = None, progress=None):
    """A runtime on the configured connection; none configured is left to each command to explain,
    wrong settings are a usage error that says what is wrong."""
    from .connection import Connection, NoConnection
    from .runtime import Runtime

    try:
        connection = Connection.from_file(args.connection) if args.connection else Connection.from_env()
    except NoConnection:
        connection = None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return Runtime(_bundle(args), connection, out_dir=out_dir, progress=progress)


def _progress(items, usage, label: str):
    """A fetch-all's headway on the terminal: records so far and pages fetched."""
    from tqdm import tqdm

    first = usage.calls
    with tqdm(desc=label, unit=" records", file=sys.stderr) as bar:
        for item in items:
            bar.set_postfix(pages=usage.calls - first, refresh=False)
            bar.update()
            yield item


def _paging_hints(additional_data: dict[str, Any] | None) -> dict[str, Any]:
    """Where the next page starts, to pass back as --input cursor=... or start=..."""
    extra = additional_data or {}
    pagination = extra.get("pagination") or {}
    hints = {}
    if extra.get("next_cursor"):
        hints["next_cursor"] = extra["next_cursor"]
    if pagination.get("more_items_in_collection") and pagination.get("next_start") is not None:
        hints["next_start"] = pagination["next_start"]
    return hints


# ---- commands ---------------------------------------------------------------------------
def cmd_actions(args) -> int:
    bundle = _bundle(args)
    resources = sorted({a.resource for a in bundle.actions.values() if not a.removed})
    if args.resource and args.resource not in resources:
        raise UsageError(f"unknown resource {args.resource!r}; choose from {', '.join(resources)}")
    rows = [
        a.summary()
        for a in bundle.actions.values()
        if not a.removed and (not args.resource or a.resource == args.resource)
    ]
    if args.json:
        _print(rows)
    else:
        width = max(len(r["key"]) for r in rows)
        for r in rows:
            where = f"{r['method']} {r['api_version']}{r['path']}" if r["method"] else "(any endpoint)"
            sys.stdout.write(f"{r['key']:<{width}}  {r['label']:<34}  {where}\n")
        sys.stdout.write(f"\n{len(rows)} actions. `describe KEY` shows one action's inputs.\n")
    return 0


def cmd_describe(args) -> int:
    bundle = _bundle(args)
    if args.key in bundle.datasources:
        _print(bundle.datasource(args.key).summary())
        return 0
    try:
        action = bundle.action(args.key)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    out = action.summary()
    if action.removed:
        out["removed"] = action.removed
    else:
        out["inputs"] = action.schema
    _print(out)
    return 0


def cmd_run(args) -> int:
    from .jobs import Job

    inputs: dict[str, Any] = {}
    if args.inputs:
        loaded = _read_json(args.inputs, "inputs")
        if not isinstance(loaded, dict):
            raise UsageError("--inputs file must hold a JSON object of input names to values")
        inputs.update(loaded)
    inputs.update(_pairs(args.input, "--input"))
    roots = None
    if args.job:  # the job's files may come from its own folder and the folders allowed here
        from .files import FileRoots

        roots = FileRoots([Path(args.job).resolve().parent, *(Path(r) for r in args.allow_files_from or [])])
    try:
        job = Job.load(args.job, roots=roots) if args.job else Job()
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read job {args.job}: {exc}") from None
    show_progress = not args.quiet and sys.stderr.isatty()
    runtime = _runtime(args, args.out, _progress if show_progress else None)
    runtime.file_roots = roots
    try:
        action = runtime.bundle.action(args.key)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    outcome = runtime.run(action, job, inputs)
    report = outcome.to_dict()
    if outcome.route == "success":
        report.update(_paging_hints(outcome.job.steps[args.key].get("additional_data")))
    if args.out:
        from .flows import deliver

        report["written"] = str(deliver(outcome, Path(args.out)))
        report["log"] = [item.to_dict(with_record=False) for item in outcome.logs]
    _print(report)
    return 0 if outcome.route == "success" else 1


def cmd_picklist(args) -> int:
    from .errors import StepError

    runtime = _runtime(args)
    try:
        runtime.bundle.datasource(args.key)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    try:
        page = runtime.picklist(args.key, args.search, _pairs(args.param, "--param"), args.cursor, args.limit)
    except StepError as exc:
        _print({"error": exc.to_dict()})
        return 1
    _print({"options": page.options, "next_cursor": page.next_cursor})
    return 0


def cmd_check_connection(args) -> int:
    """One quick request, never retried: a person is waiting for the answer."""
    from .client import RetrySettings
    from .errors import StepError

    runtime = _runtime(args)
    if runtime.connection is None:
        _print(
            {
                "ok": False,
                "error": "No connection configured: set PIPEDRIVE_API_TOKEN (and PIPEDRIVE_BASE_URL) "
                "or pass --connection FILE.",
            }
        )
        return 1
    started = time.monotonic()
    try:
        me = (
            runtime.client.send(
                "GET", "v1", "/users/me", cost=2, retry=RetrySettings.none(), timeout=CHECK_TIMEOUT
            ).data
            or {}
        )
    except StepError as exc:
        waited = time.monotonic() - started
        if exc.kind == "network" and waited >= CHECK_TIMEOUT[0]:  # refused is instant; this is silence
            exc.message = f"no answer from {runtime.connection.host} within {waited:.0f} s"
        _print({"ok": False, "base_url": runtime.connection.base_url, "error": exc.to_dict()})
        return 1
    _print(
        {
            "ok": True,
            "base_url": runtime.connection.base_url,
            "user": me.get("name"),
            "email": me.get("email"),
            "company": me.get("company_name"),
            "company_domain": me.get("company_domain"),
        }
    )
    return 0


def cmd_validate(args) -> int:
    from .bundle import Bundle
    from .errors import BundleError

    try:
        bundle = Bundle.load(args.bundle, check=True)
    except BundleError as exc:
        sys.stderr.write(f"bundle is broken: {exc}\n")
        return 1
    sys.stdout.write(
        f"bundle OK: {len(bundle.actions)} actions, {len(bundle.datasources)} data sources, "
        f"{len(bundle.connections)} connection types ({bundle.root})\n"
    )
    if not args.flow:
        return 0
    from .flows import Flow, FlowError
    from .runtime import Runtime

    try:
        flow = Flow.load(args.flow, Runtime(bundle))
    except FlowError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    sys.stdout.write(f"flow OK: {len(flow.steps)} steps ({args.flow})\n")
    return 0


def cmd_docs(args) -> int:
    from . import routedocs
    from .reference import render

    target = Path(args.out)
    outputs = [(target, render(_bundle(args)))]
    sandbox_doc = target.parent / "sandbox.md"  # its route table, when the docs folder has one
    if sandbox_doc.exists():
        try:
            outputs.append((sandbox_doc, routedocs.render(sandbox_doc.read_text(encoding="utf-8"))))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.check:
        stale = [path for path, text in outputs if (path.read_text(encoding="utf-8") if path.exists() else "") != text]
        for path in stale:
            sys.stderr.write(f"{path} is out of date: run `pipedrive-connect docs` and commit it\n")
        for path in (p for p, _ in outputs if p not in stale):
            sys.stdout.write(f"{path} is current\n")
        return 1 if stale else 0
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")
    return 0


def cmd_sandbox(args) -> int:
    from . import sandbox

    return sandbox.main(args)


def _connection_loader(args):
    """Re-reads the connection settings, so a paused runner picks up a fixed token by itself."""
    from .connection import Connection

    return lambda: Connection.from_file(args.connection) if args.connection else Connection.from_env()


def cmd_watch(args) -> int:
    from .flows import Flow
    from .jobstore import mode_of
    from .runner import HotFolder, WatchSettings, configure_logging

    runtime = _runtime(args, args.out)
    if runtime.connection is None:
        raise UsageError("no connection: set PIPEDRIVE_API_TOKEN (and PIPEDRIVE_BASE_URL) or pass --connection FILE")
    try:
        flow = Flow.load(args.flow, runtime)
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"cannot use flow {args.flow}: {exc}") from None
    if not Path(args.in_dir).is_dir():
        raise UsageError(f"input folder not found: {args.in_dir}")
    for root in args.allow_files_from or []:
        if not Path(root).is_dir():
            raise UsageError(f"--allow-files-from: not a folder: {root}")
    try:
        mode = mode_of(args.file_mode)
    except ValueError as exc:
        raise UsageError(f"--file-mode: {exc}") from None
    settings = WatchSettings(
        workers=args.workers,
        settle=args.settle,
        retry_for=args.retry_for,
        summary_every=args.summary_every,
        file_mode=mode,
        max_attachment_bytes=args.max_attachment_bytes,
        allow_files_from=[Path(r) for r in args.allow_files_from or []],
    )
    try:
        configure_logging(args.log_json, quiet=args.quiet)
    except OSError as exc:
        raise UsageError(f"--log-json: cannot write {args.log_json}: {exc.strerror}") from None
    folder = HotFolder(
        runtime, flow, Path(args.in_dir), Path(args.out), settings=settings, reconnect=_connection_loader(args)
    )
    folder.install_signal_handlers()
    if not args.once and not args.quiet:
        sys.stderr.write(f"watching {folder.in_dir} with {folder.workers} worker(s); Ctrl+C to stop\n")
    stats = folder.run(once=args.once)
    _print(stats.summary())
    return 0


def cmd_requeue(args) -> int:
    from .jobstore import requeue

    if not Path(args.in_dir).is_dir():
        raise UsageError(f"input folder not found: {args.in_dir}")
    if not Path(args.output).is_file():
        raise UsageError(f"output file not found: {args.output}")
    try:
        target = requeue(Path(args.output), Path(args.in_dir), resume=args.resume)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(
        f"queued {target}"
        + (" (finished steps kept; it goes on at the failed step)" if args.resume else " (it starts over)")
        + "\n"
    )
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(args.out)


def cmd_new_action(args) -> int:
    from .bundle import default_root
    from .scaffold import ScaffoldError, new_action

    root = Path(args.bundle) if args.bundle else default_root()
    if not (root / "tests" / "requests").is_dir():
        raise UsageError(
            f"{root} is not a checkout (it has no tests/requests/): pass --bundle with the repository root"
        )
    try:
        written = new_action(root, args.operation_id, key=args.key, resource=args.resource, spec=args.spec_dir)
    except ScaffoldError as exc:
        raise UsageError(str(exc)) from None
    for path in written.files:
        sys.stdout.write(f"wrote {path.relative_to(root)}\n")
    for note in written.notes:
        sys.stdout.write(f"note: {note}\n")
    sys.stdout.write(
        f"next: replace every TODO in actions/{written.resource}.yaml and schemas/{written.key}.json "
        f"in your own words, check the case in tests/requests/{written.resource}.yaml against "
        "Pipedrive's reference, run `pipedrive-connect docs`; CONTRIBUTING.md lists the rest\n"
    )
    return 0


# ---- parser -------------------------------------------------------------------------------
def build_parser(with_sandbox_options: bool = True) -> argparse.ArgumentParser:
    """The full parser; the sandbox's options (and its server imports) only when asked for."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--bundle",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="connector bundle folder (default: the one shipped with the package)",
    )
    common.add_argument(
        "--connection",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="connection settings file (YAML/JSON); default: PIPEDRIVE_API_TOKEN/PIPEDRIVE_BASE_URL",
    )
    parser = argparse.ArgumentParser(
        prog="pipedrive-connect",
        parents=[common],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pipedrive actions, picklists and flows for workflow automation.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"pipedrive-connect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, func, help_text, **kw):
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text, **kw)
        p.set_defaults(func=func)
        return p

    p = add("actions", cmd_actions, "list the actions")
    p.add_argument(
        "--json", action="store_true", help="print a JSON array (key, label, resource, api_version, method, path, ...)"
    )
    p.add_argument("--resource", help="only actions of this resource group (deals, persons, ...)")

    p = add("describe", cmd_describe, "show one action (or data source) with its input schema as JSON")
    p.add_argument("key", metavar="KEY")

    p = add("run", cmd_run, "run one job through one action and print the outcome as JSON (exit 0 success, 1 error)")
    p.add_argument("key", metavar="KEY", help="action key, e.g. addDeal")
    p.add_argument(
        "--input",
        action="append",
        metavar="NAME=VALUE",
        help="one input value (repeatable); strings are coerced to the input's type; templates allowed",
    )
    p.add_argument("--inputs", metavar="FILE.json", help="a JSON object of inputs (--input values win)")
    p.add_argument("--job", metavar="JOB.json", help="the job: {data, metadata, files} that templates can read")
    p.add_argument(
        "--out", metavar="DIR", help="write the routed job to DIR/success or DIR/error and by-products to DIR/log"
    )
    p.add_argument(
        "--allow-files-from",
        action="append",
        metavar="DIR",
        help="with --job: a folder besides the job's own that its files may come from (repeatable)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display while fetching pages")

    p = add("picklist", cmd_picklist, "print a data source's options as {options: [{key, label}], next_cursor} JSON")
    p.add_argument("key", metavar="KEY", help="data source key, e.g. selectPerson")
    p.add_argument("--search", metavar="TERM", help="narrow the options")
    p.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="a value another input chose (e.g. pipelineId=1)"
    )
    p.add_argument("--cursor", help="continue after the previous page")
    p.add_argument("--limit", type=int, default=100, help="options per page (default 100)")

    add("check-connection", cmd_check_connection, "verify the credentials: current user and company")
    p = add("validate", cmd_validate, "load and check the whole bundle (schemas, handlers, data sources), and a flow")
    p.add_argument(
        "--flow",
        metavar="FILE",
        help="also check this flow: structure, actions, input names, templates, "
        "constants and step references (exit 1 listing every problem)",
    )

    p = add(
        "docs",
        cmd_docs,
        "generate the action reference (docs/actions.md) from the bundle, and the sandbox's "
        "route table in docs/sandbox.md beside it from its routes",
    )
    p.add_argument(
        "--out", default="docs/actions.md", metavar="FILE", help="where to write it (default docs/actions.md)"
    )
    p.add_argument("--check", action="store_true", help="only check that FILE is current (exit 1 if not)")

    p = add(
        "new-action",
        cmd_new_action,
        "scaffold an action from an operation of Pipedrive's official spec",
        epilog=NEW_ACTION_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "operation_id",
        metavar="OPERATION_ID",
        help="operationId in the spec, e.g. postAdditionalDiscount (looked up in v2 first, then v1)",
    )
    p.add_argument("--key", help="the action's key (default: OPERATION_ID); refused if it exists")
    p.add_argument(
        "--resource",
        metavar="R",
        help="resource group: actions/R.yaml and tests/requests/R.yaml (default: the path's first segment, e.g. deals)",
    )
    p.add_argument(
        "--spec-dir",
        metavar="DIR",
        help="folder holding v1.yaml and v2.yaml (default: "
        "$PIPEDRIVE_OPENAPI_DIR, else ../shared/pipedrive-openapi beside the bundle)",
    )

    from . import replicate

    p = add(
        "replicate",
        lambda args: replicate.command(args, sys.modules[__name__]),  # this module (__main__ under python -m)
        replicate.HELP,
        epilog=replicate.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replicate.add_arguments(p)

    p = add("sandbox", cmd_sandbox, "serve the local Pipedrive-compatible sandbox on 127.0.0.1 (see docs/sandbox.md)")
    if with_sandbox_options:
        from .sandbox import add_arguments

        add_arguments(p)

    p = add(
        "watch",
        cmd_watch,
        "process job files dropped in a folder through a flow (hot folder)",
        epilog=WATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--flow", metavar="FILE", required=True, help="flow file (YAML/JSON): steps with templated inputs")
    p.add_argument("--in", dest="in_dir", metavar="DIR", required=True, help="folder to take *.json job files from")
    p.add_argument(
        "--out", metavar="DIR", required=True, help="output folder: success/, error/ and log/ are written there"
    )
    p.add_argument("--workers", type=int, default=4, metavar="N", help="jobs processed concurrently (default 4)")
    p.add_argument("--once", action="store_true", help="process what is there now, then exit")
    p.add_argument(
        "--settle",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="take a job file (and its attachments) only once unchanged this long (default 1)",
    )
    p.add_argument(
        "--retry-for",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="hold jobs that failed for a passing reason (network, 5xx, 429) and retry them with "
        "backoff for this long before routing them to error (default 3600)",
    )
    p.add_argument(
        "--allow-files-from",
        action="append",
        metavar="DIR",
        help="a folder outside the inbox that job attachments may come from (repeatable)",
    )
    p.add_argument(
        "--max-attachment-bytes",
        type=int,
        default=100 * 1024 * 1024,
        metavar="N",
        help="largest attachment a job may carry (default 100 MiB)",
    )
    p.add_argument("--file-mode", default="644", metavar="OCTAL", help="permissions of route files (default 644)")
    p.add_argument(
        "--log-json",
        metavar="FILE",
        help="append every event (claimed, step, retry, paused, routed) as JSON Lines to FILE",
    )
    p.add_argument(
        "--summary-every",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="print a summary line this often while running (default 60)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-job lines on stderr")

    p = add("requeue", cmd_requeue, "put a routed job (success/ or error/ output) back into an inbox as a new job")
    p.add_argument("output", metavar="OUTPUT_FILE", help="the routed job file, e.g. out/error/order-1042.json")
    p.add_argument("--in", dest="in_dir", metavar="DIR", required=True, help="the inbox to drop it into")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the steps that succeeded (not run again) and go on at the failed step",
    )

    p = add("demo", cmd_demo, "run the sample order flow on an in-process sandbox and summarise where each job went")
    p.add_argument("--out", metavar="DIR", default="demo-output", help="output folder (default ./demo-output)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(with_sandbox_options="sandbox" in argv)
    args = parser.parse_args(argv)
    for name in ("bundle", "connection"):
        if not hasattr(args, name):
            setattr(args, name, None)
    try:
        return args.func(args)
    except UsageError as exc:
        sys.stderr.write(f"pipedrive-connect {args.command}: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"pipedrive-connect {args.command}: interrupted\n")
        return 130
    except Exception as exc:
        from .errors import BundleError
        from .flows import FlowError

        if isinstance(exc, FlowError):  # each line names the flow file, the step and the input
            sys.stderr.write(f"{exc}\n")
            return 2
        if isinstance(exc, BundleError):
            sys.stderr.write(f"pipedrive-connect: the connector bundle is broken: {exc}\n")
            return 2
        return _internal_error(args.command, exc)


def _internal_error(command: str, exc: Exception) -> int:
    """A connector fault: one line naming the exception type and where it was raised, never its message
    (which may quote a secret); the traceback only when PIPEDRIVE_CONNECT_DEBUG asks for it."""
    if os.environ.get("PIPEDRIVE_CONNECT_DEBUG"):
        traceback.print_exception(exc)
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    sys.stderr.write(
        f"pipedrive-connect {command}: internal error: {type(exc).__name__} at "
        f"{Path(frame.filename).name}:{frame.lineno}; please report (PIPEDRIVE_CONNECT_DEBUG=1 "
        "shows the traceback)\n"
    )
    return 3


if __name__ == "__main__":
    sys.exit(main())
