"""The `pipedrive-connect` command line.

Exit status: 0 success, 1 the job went to the error route (or a check failed),
2 usage errors (unknown action, malformed option, unreadable file), 3 a fault in the
connector itself (one line; PIPEDRIVE_CONNECT_DEBUG=1 adds the traceback); `result`: 4 not
routed yet; `worker`: 75 Redis stayed unreachable (start it again).
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


QUEUE_EPILOG = """how it fits together (docs/scale.md):
  pipedrive-connect worker --queue redis://127.0.0.1:6379/0 --connections tenants/ --out out/
  pipedrive-connect enqueue --queue redis://127.0.0.1:6379/0 --flow order-flow.yaml --tenant acme jobs/*.json
  pipedrive-connect result --queue redis://127.0.0.1:6379/0 order-7-3f9a2c1b07 --wait 30
A job names its connection with --tenant NAME: the file NAME.yaml (or .yml/.json) in the workers'
--connections folder; without it the worker's --connection FILE (or the environment) is used.
Every worker on every machine shares one burst limit per token and one daily budget per company
through Redis. Redis should run with appendonly yes and appendfsync always (docs/scale.md)."""

LOGIN_EPILOG = """The authorization address is printed on stdout as one line (and opened in a browser unless
--no-browser). After you allow access, Pipedrive sends the browser to http://127.0.0.1:P/callback;
the code is exchanged for tokens and the connection file is written (mode 0600). A refusal, a wrong
state, a timeout or a token endpoint error writes nothing and exits 1.
examples:
  pipedrive-connect login --client-id ID --client-secret SECRET --connection pipedrive.yaml
  pipedrive-connect login --client-id sandbox-app --client-secret s3cret --connection conn.yaml \\
      --oauth-base http://127.0.0.1:8765 --no-browser"""
SERVE_EPILOG = """examples:
  pipedrive-connect serve --sandbox --port 8080     try it with sample data, then open http://127.0.0.1:8080/
  pipedrive-connect serve --port 8080               on PIPEDRIVE_API_TOKEN / PIPEDRIVE_BASE_URL or --connection
  pipedrive-connect serve --host 0.0.0.0 --auth-token "$(openssl rand -hex 16)"
  PIPEDRIVE_CLIENT_SECRET=... pipedrive-connect serve --oauth-client-id ID --connection pipedrive.yaml
With --oauth-client-id the page offers "Connect to Pipedrive": register http://127.0.0.1:PORT/oauth/callback
as the app's callback URL; the tokens are written to --connection FILE (mode 0600). With --sandbox the
sandbox registers an app of its own, so Connect works there without an account.
The page builds a flow from the actions, tests each step, and saves the YAML that
`pipedrive-connect watch --flow FILE` runs. The credentials stay in this process."""
LISTEN_EPILOG = """Each event becomes one job ({"data": {"meta", "data", "previous"}}) in OUT/inbox, run
through the flow as `watch` runs jobs. 200 is answered only once the event is on disk; an event
seen before (by its id, or the record change it carries) is acknowledged and not queued again.
Changes missed while the listener was down or banned are caught up by polling.
examples:
  pipedrive-connect listen --flow won.yaml --out won/ --port 8089 --public-url https://hooks.example.com
  pipedrive-connect listen --flow new-people.yaml --out people/ --port 8089 --event create.person
  pipedrive-connect listen --flow won.yaml --out won/ --port 8089 --queue redis://127.0.0.1:6379/0 --tenant acme
With --queue the jobs go to Redis for `worker`s to run (docs/scale.md).
See docs/triggers.md."""


POLL_EPILOG = """Lists the records changed since the last poll (v2, oldest first, 500 a page) and queues
each change once (by record id and update time) as a job in OUT/inbox. The cursor is saved after
each page, so a restart goes on where it stopped.
examples:
  pipedrive-connect poll --flow sync.yaml --out sync/ --entity deals --interval 60
  pipedrive-connect poll --flow sync.yaml --out sync/ --entity persons --once --since 2026-05-01T00:00:00Z
  pipedrive-connect poll --flow sync.yaml --out sync/ --entity deals --queue redis://127.0.0.1:6379/0 --tenant acme
With --queue the jobs go to Redis for `worker`s to run (docs/scale.md).
See docs/triggers.md."""


EXIT_REDIS_LOST = 75  # `worker`: Redis stayed unreachable; a supervisor should start it again (EX_TEMPFAIL)
CHECK_TIMEOUT = (3.0, 5.0)  # check-connection: seconds to connect, then to get the answer


class UsageError(Exception):
    pass


def _print(value: Any) -> None:
    """Indented JSON on stdout, written as it is encoded: a fetch-all's report is never held as
    one string (with its millions of pieces, that was several times the records' own size)."""
    pending: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2, ensure_ascii=False, default=str).iterencode(value):
        pending.append(chunk)
        size += len(chunk)
        if size >= 1 << 16:
            sys.stdout.write("".join(pending))
            pending.clear()
            size = 0
    sys.stdout.write("".join(pending) + "\n")


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
    if args.dry_run:
        from .errors import StepError

        try:
            _print(runtime.preview(action, job, inputs))
        except StepError as exc:
            _print({"route": "error", "error": exc.to_dict()})
            return 1
        return 0
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
    report = {
        "ok": True,
        "base_url": runtime.connection.base_url,
        "user": me.get("name"),
        "email": me.get("email"),
        "company": me.get("company_name"),
        "company_domain": me.get("company_domain"),
    }
    auth = runtime.connection.auth
    if hasattr(auth, "scope"):  # OAuth: what the grant allows and how long the token lasts, never the tokens
        report.update(type="oauth2", api_domain=runtime.connection.current_base_url, scopes=auth.scope)
        if auth.expires_at is not None:
            report["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(auth.expires_at))
    _print(report)
    return 0


def cmd_login(args) -> int:
    """The authorization-code flow on a loopback callback; the connection file is written only at the end."""
    from . import oauth
    from .errors import StepError

    target = Path(args.connection or "")
    if not args.connection:
        raise UsageError("--connection FILE is required: the tokens are written there")
    if not args.client_secret:
        raise UsageError("give the app's client secret: --client-secret SECRET or PIPEDRIVE_CLIENT_SECRET")
    if not target.parent.is_dir():
        raise UsageError(f"--connection: folder not found: {target.parent}")
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    try:
        oauth.endpoint(args.oauth_base, "token")
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    def announce(url: str) -> None:
        if not args.no_browser:
            sys.stderr.write("Opening the browser to sign in to Pipedrive; if it does not open, visit:\n")
        else:
            sys.stderr.write("Visit this address to sign in to Pipedrive and allow access:\n")
        sys.stdout.write(url + "\n")
        sys.stdout.flush()

    try:
        settings = oauth.login(
            args.client_id,
            args.client_secret,
            port=args.redirect_port,
            oauth_base=args.oauth_base,
            scope=" ".join(args.scope) if args.scope else None,
            timeout=args.timeout,
            announce=announce,
            open_browser=not args.no_browser,
        )
        store = oauth.TokenFile(target)
        with store.locked():  # a runner refreshing meanwhile re-reads the file under this lock
            store.write(settings)
    except StepError as exc:
        sys.stderr.write(f"pipedrive-connect login: {exc.message}\n")
        return 1
    sys.stderr.write(f"signed in: the connection is in {target} (readable by you only); try check-connection\n")
    return 0


def cmd_logout(args) -> int:
    """Revoke the refresh token, then drop the tokens from the file (the app's id and secret stay)."""
    from . import oauth
    from .connection import read_settings
    from .errors import StepError

    if not args.connection or not Path(args.connection).is_file():
        raise UsageError("--connection FILE is required: the connection file that login wrote")
    store = oauth.TokenFile(args.connection)
    try:
        with store.locked():
            settings = read_settings(store.path)
            if settings.get("type") != "oauth2":
                raise UsageError(f"{store.path} is not an oauth2 connection")
            if settings.get("refresh_token"):
                oauth.revoke(settings)
            store.write({k: v for k, v in settings.items() if k not in oauth.TOKEN_KEYS})
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except StepError as exc:
        sys.stderr.write(f"pipedrive-connect logout: {exc.message}; the tokens were kept\n")
        return 1
    sys.stderr.write(f"signed out: the refresh token is revoked and the tokens are gone from {store.path}\n")
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
    from . import coverage, routedocs
    from .reference import render
    from .scaffold import spec_dir

    target = Path(args.out)
    bundle = _bundle(args)
    outputs = [(target, render(bundle))]
    specs = spec_dir(args.spec_dir, Path(bundle.root))
    coverage_doc = target.parent / "coverage.md"  # the API coverage table, from the official specs
    if coverage.spec_available(specs):
        try:
            outputs.append((coverage_doc, coverage.render(bundle, specs)))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    else:
        sys.stderr.write(f"{coverage_doc} left as it is: no official spec in {specs} (set PIPEDRIVE_OPENAPI_DIR)\n")
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


def _forwarder(args, runtime):
    """`watch --queue`: each claimed job goes to the queue under the id the hot folder journalled."""
    from .queue import Queue

    queue = Queue(_queue_client(args.queue))
    raw, flow = _flow_with_source(args.flow, runtime)
    return lambda job, job_id, source: queue.enqueue(
        raw, flow, job.to_dict(), connection=args.tenant, job_id=job_id, source=source
    )


def _connection_loader(args):
    """Re-reads the connection settings, so a paused runner picks up a fixed token by itself."""
    from .connection import Connection

    return lambda: Connection.from_file(args.connection) if args.connection else Connection.from_env()


def cmd_watch(args) -> int:
    from .flows import Flow
    from .jobstore import mode_of
    from .runner import HotFolder, WatchSettings, configure_logging

    runtime = _runtime(args, args.out)
    forward = None
    if args.queue:  # feed a queue: the workers run the flow, with their connections
        forward = _forwarder(args, runtime)
    elif runtime.connection is None:
        raise UsageError("no connection: set PIPEDRIVE_API_TOKEN (and PIPEDRIVE_BASE_URL) or pass --connection FILE")
    elif not args.out:
        raise UsageError("--out is required (or --queue to send the jobs to workers)")
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
    out = Path(args.out or Path(args.in_dir) / ".queued")  # in queue mode only quarantined files land here
    folder = HotFolder(
        runtime, flow, Path(args.in_dir), out, settings=settings, reconnect=_connection_loader(args), forward=forward
    )
    folder.install_signal_handlers()
    if not args.once and not args.quiet:
        sys.stderr.write(f"watching {folder.in_dir} with {folder.workers} worker(s); Ctrl+C to stop\n")
    stats = folder.run(once=args.once)
    _print(stats.summary())
    return 0


def _trigger_flow(args):
    """The runtime and flow of `listen` and `poll` (checked as `watch` checks them), and their logging."""
    from .flows import Flow
    from .runner import configure_logging

    runtime = _runtime(args, args.out)
    if runtime.connection is None:
        raise UsageError("no connection: set PIPEDRIVE_API_TOKEN (and PIPEDRIVE_BASE_URL) or pass --connection FILE")
    try:
        flow = Flow.load(args.flow, runtime)
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"cannot use flow {args.flow}: {exc}") from None
    try:
        configure_logging(args.log_json, quiet=args.quiet)
    except OSError as exc:
        raise UsageError(f"--log-json: cannot write {args.log_json}: {exc.strerror}") from None
    return runtime, flow


def _trigger_forwarder(args, runtime):
    """`listen`/`poll --queue`: the jobs go to the workers through the hot folder's forward path, as with
    `watch --queue` (the trigger itself still needs a connection: it registers webhooks and polls)."""
    if args.tenant and not args.queue:
        raise UsageError("--tenant names the workers' connection: it goes with --queue")
    return _forwarder(args, runtime) if args.queue else None


def _trigger_settings(args):
    from .runner import WatchSettings

    # settle 0: events enter the inbox by an atomic rename, never half-written
    return WatchSettings(workers=args.workers, settle=0.0, retry_for=args.retry_for, summary_every=args.summary_every)


def cmd_listen(args) -> int:
    from .flows import Trigger
    from .triggers import Listener, ListenSettings, TriggerError

    runtime, flow = _trigger_flow(args)
    forward = _trigger_forwarder(args, runtime)
    events = args.event or (flow.trigger.events if flow.trigger else [])
    if not events:
        raise UsageError("no events: give --event (e.g. --event change.deal) or a trigger: in the flow")
    from .flows import trigger_problems

    problems = trigger_problems({"event": events, "filter": flow.trigger.filter if flow.trigger else {}})
    if problems:
        raise UsageError("; ".join(problems))
    trigger = Trigger(events, flow.trigger.filter if flow.trigger else {})
    settings = ListenSettings(
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        keep=args.keep,
        catch_up_every=args.catch_up_every,
        grace=args.catch_up_grace,
    )
    try:
        listener = Listener(runtime, flow, trigger, Path(args.out), settings)
        stats = listener.run(_trigger_settings(args), forward)
    except (TriggerError, OSError) as exc:
        raise UsageError(str(exc)) from None
    _print(stats.summary())
    return 0


def cmd_poll(args) -> int:
    from .triggers import POLLABLE, TriggerError, parse_time, run_poll

    runtime, flow = _trigger_flow(args)
    forward = _trigger_forwarder(args, runtime)
    if args.entity not in POLLABLE:
        raise UsageError(f"cannot poll {args.entity!r}; choose from {', '.join(POLLABLE)}")
    if flow.trigger is not None and POLLABLE[args.entity][1] not in flow.trigger.objects:
        raise UsageError(f"the flow's trigger ({', '.join(flow.trigger.events)}) never matches {args.entity}")
    if args.since:
        try:
            parse_time(args.since)
        except ValueError:
            raise UsageError(f"--since: {args.since!r} is not a time like 2026-05-01T00:00:00Z") from None
    try:
        result, stats = run_poll(
            runtime,
            flow,
            Path(args.out),
            args.entity,
            Path(args.state) if args.state else None,
            args.interval,
            args.once,
            _trigger_settings(args),
            since=args.since,
            forward=forward,
        )
    except (TriggerError, OSError) as exc:
        raise UsageError(str(exc)) from None
    _print({**stats.summary(), "polled": vars(result)})
    return 0


def _queue_client(url: str):
    """A Redis client for --queue, checked with one quick ping (the password in the URL is never shown)."""
    import redis

    from .queue import QueueError, connect

    try:
        client = connect(url)
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5).ping()
    except QueueError as exc:
        raise UsageError(str(exc)) from None
    except (redis.RedisError, ValueError) as exc:
        raise UsageError(f"--queue: cannot reach Redis ({type(exc).__name__}); is redis-server running?") from None
    return client


def _flow_with_source(path: str, runtime):
    """The checked flow and the plain data it was loaded from (which travels with each queued job)."""
    import yaml

    from .flows import Flow

    flow = Flow.load(path, runtime)
    text = Path(path).read_text(encoding="utf-8")
    raw = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    return (raw if isinstance(raw, dict) else {"steps": raw, "name": flow.name}), flow


def cmd_worker(args) -> int:
    import signal

    from .flows import Flow
    from .queue import Worker, WorkerSettings
    from .runner import configure_logging

    client = _queue_client(args.queue)
    runtime = _runtime(args, args.out)
    flows = [Flow.load(path, runtime) for path in args.flow or []]
    if args.connections and not Path(args.connections).is_dir():
        raise UsageError(f"--connections: not a folder: {args.connections}")
    for root in args.allow_files_from or []:
        if not Path(root).is_dir():
            raise UsageError(f"--allow-files-from: not a folder: {root}")
    if args.concurrency < 1 or args.lease <= 0 or args.dead_after <= 0:
        raise UsageError("--concurrency, --lease and --dead-after must be positive")
    settings = WorkerSettings(
        concurrency=args.concurrency,
        out_dir=Path(args.out).resolve() if args.out else None,
        connections_dir=Path(args.connections) if args.connections else None,
        default_connection=runtime.connection,
        allow_files_from=[Path(r) for r in args.allow_files_from or []],
        lease=args.lease,
        dead_after=args.dead_after,
        retry_for=args.retry_for,
        daily_budget=args.daily_budget,
    )
    if settings.out_dir is not None:
        for route in ("success", "error", "log"):
            (settings.out_dir / route).mkdir(parents=True, exist_ok=True)
    try:
        configure_logging(args.log_json, quiet=args.quiet)
    except OSError as exc:
        raise UsageError(f"--log-json: cannot write {args.log_json}: {exc.strerror}") from None
    worker = Worker(client, runtime, flows or None, settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.stop.set())
    if not args.quiet:
        which = ", ".join(f.name for f in flows) if flows else "every flow"
        sys.stderr.write(f"worker {worker.id}: {args.concurrency} thread(s) on {which}; Ctrl+C to stop\n")
    _print(worker.run())
    return EXIT_REDIS_LOST if worker.lost_redis else 0


def cmd_enqueue(args) -> int:
    from .jobs import Job, JobFileError
    from .queue import Queue
    from .runtime import Runtime

    queue = Queue(_queue_client(args.queue))
    raw, flow = _flow_with_source(args.flow, Runtime(_bundle(args)))
    jobs = []
    for path in args.jobs:
        try:
            job = Job.load(path)  # attachments: absolute paths, which workers check against --allow-files-from
        except (OSError, JobFileError) as exc:
            raise UsageError(f"cannot read job {path}: {exc}") from None
        jobs.append((path, job))
    sent = [
        {"id": queue.enqueue(raw, flow, job.to_dict(), connection=args.tenant, source=Path(path).name), "file": path}
        for path, job in jobs
    ]
    _print(sent)
    return 0


def cmd_result(args) -> int:
    from .queue import Queue

    queue = Queue(_queue_client(args.queue))
    deadline = time.monotonic() + max(0.0, args.wait)
    state = queue.result(args.job_id)
    while state["state"] not in ("routed", "unknown") and time.monotonic() < deadline:
        time.sleep(0.5)
        state = queue.result(args.job_id)
    if state["state"] == "unknown":
        raise UsageError(f"no job {args.job_id!r} in this queue (or its result has expired)")
    _print(state)
    if state["state"] != "routed":
        return 4
    return 0 if state["route"] == "success" else 1


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


def _sandbox_runtime(args, stack):
    """A runtime on a sandbox started here with the sample data, stopped when `stack` closes, and the OAuth
    app the sandbox registers for "Connect to Pipedrive" (tokens in --connection FILE, or a temporary file)."""
    import secrets
    import tempfile

    from .connection import Connection
    from .designer.connect import OAuthApp
    from .runtime import Runtime
    from .sandbox import Sandbox

    token, client = secrets.token_hex(16), ("designer-sandbox-app", secrets.token_hex(16))
    sample = Path(__file__).resolve().parent / "sandbox" / "sample_data.json"
    sandbox = stack.enter_context(Sandbox(token=token, data=str(sample), oauth_client=client))
    connection = Connection.from_settings({"type": "apiToken", "api_token": token, "base_url": sandbox.base_url})
    target = Path(args.connection) if args.connection else Path(stack.enter_context(tempfile.TemporaryDirectory()))
    app = OAuthApp(*client, target if args.connection else target / "sandbox-oauth.yaml", oauth_base=sandbox.base_url)
    return Runtime(_bundle(args), connection), app


def _serve_runtime(args):
    """A runtime on the configured connection, and with --oauth-client-id the app that signs in and writes
    the tokens to --connection FILE (which need not exist yet: nothing is connected until then)."""
    from .connection import check_url
    from .designer.connect import OAuthApp
    from .runtime import Runtime

    if not args.oauth_client_id:
        return _runtime(args), None
    if not args.connection:
        raise UsageError("--oauth-client-id needs --connection FILE: the tokens are written there")
    if not args.oauth_client_secret:
        raise UsageError("give the app's client secret: --oauth-client-secret SECRET or PIPEDRIVE_CLIENT_SECRET")
    target = Path(args.connection)
    if not target.parent.is_dir():
        raise UsageError(f"--connection: folder not found: {target.parent}")
    try:
        base = check_url(args.oauth_base, "--oauth-base")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    app = OAuthApp(args.oauth_client_id, args.oauth_client_secret, target, oauth_base=base)
    return (_runtime(args) if target.exists() else Runtime(_bundle(args), None)), app


def cmd_serve(args) -> int:
    """The designer: its API and page over one runtime, on the configured connection or a sandbox started
    here; until SIGINT or SIGTERM."""
    import signal
    import threading
    from contextlib import ExitStack

    from .designer.service import Designer, DesignerServer, Settings
    from .files import FileRoots

    for root in args.allow_files_from or []:
        if not Path(root).is_dir():
            raise UsageError(f"--allow-files-from: not a folder: {root}")
    if args.sandbox and args.oauth_client_id:
        raise UsageError("--sandbox registers its own OAuth app; leave out --oauth-client-id")
    with ExitStack() as stack:
        runtime, app = _sandbox_runtime(args, stack) if args.sandbox else _serve_runtime(args)
        settings = Settings(
            host=args.host,
            port=args.port,
            auth_token=args.auth_token or os.environ.get("PIPEDRIVE_CONNECT_DESIGNER_TOKEN") or None,
            file_roots=FileRoots([Path(r) for r in args.allow_files_from or []]),
            oauth=app,
        )
        try:
            designer = Designer(runtime, settings)
            server = stack.enter_context(DesignerServer(designer))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        where = runtime.connection.base_url if runtime.connection else "no connection (set PIPEDRIVE_API_TOKEN)"
        if runtime.connection is None and app is not None:
            where = "not connected yet: use Connect to Pipedrive on the page"
        if args.sandbox:
            where = f"the local sandbox at {where}, with sample data"
        print(f"designer: {server.url}/  (Pipedrive: {where}); Ctrl+C to stop", flush=True)
        if app is not None and not args.sandbox:
            print(f"Connect to Pipedrive: the app's callback URL must be {server.url}/oauth/callback", flush=True)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
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
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the request it would send (method, URL, query, body; the token redacted) and its token "
        "cost, without sending it (a custom-field list may be read to build it)",
    )

    p = add("picklist", cmd_picklist, "print a data source's options as {options: [{key, label}], next_cursor} JSON")
    p.add_argument("key", metavar="KEY", help="data source key, e.g. selectPerson")
    p.add_argument("--search", metavar="TERM", help="narrow the options")
    p.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="a value another input chose (e.g. pipelineId=1)"
    )
    p.add_argument("--cursor", help="continue after the previous page")
    p.add_argument("--limit", type=int, default=100, help="options per page (default 100)")

    add(
        "check-connection",
        cmd_check_connection,
        "verify the credentials: current user and company (OAuth: also api_domain, scopes and token expiry)",
    )
    p = add(
        "login",
        cmd_login,
        "sign in to Pipedrive with OAuth 2.0 and write the tokens to the --connection file",
        epilog=LOGIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--client-id", required=True, metavar="ID", help="the app's client id (Developer Hub)")
    p.add_argument(
        "--client-secret",
        default=os.environ.get("PIPEDRIVE_CLIENT_SECRET"),
        metavar="SECRET",
        help="the app's client secret (default: $PIPEDRIVE_CLIENT_SECRET, which keeps it out of the process list)",
    )
    p.add_argument(
        "--redirect-port",
        type=int,
        default=8766,
        metavar="P",
        help="port on 127.0.0.1 for the callback http://127.0.0.1:P/callback, as registered for the app "
        "(default 8766; 0 picks a free one)",
    )
    p.add_argument("--no-browser", action="store_true", help="only print the address to open, do not open a browser")
    p.add_argument("--scope", nargs="+", metavar="SCOPE", help="scopes to ask for (default: the app's own)")
    p.add_argument(
        "--oauth-base",
        default="https://oauth.pipedrive.com",
        metavar="URL",
        help="the OAuth server (default https://oauth.pipedrive.com; the sandbox's URL to try it locally)",
    )
    p.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="seconds to wait for the sign-in (default 300)"
    )
    add("logout", cmd_logout, "revoke the OAuth refresh token and remove the tokens from the --connection file")
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
        "generate the action reference (docs/actions.md) from the bundle, the sandbox's route table in "
        "docs/sandbox.md beside it from its routes, and the API coverage table (docs/coverage.md) from "
        "Pipedrive's official specs",
    )
    p.add_argument(
        "--out", default="docs/actions.md", metavar="FILE", help="where to write it (default docs/actions.md)"
    )
    p.add_argument("--check", action="store_true", help="only check that FILE is current (exit 1 if not)")
    p.add_argument(
        "--spec-dir",
        metavar="DIR",
        help="where v1.yaml and v2.yaml are, for docs/coverage.md (default $PIPEDRIVE_OPENAPI_DIR, "
        "else ../shared/pipedrive-openapi beside the bundle); without them coverage.md is left as it is",
    )

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
    p.add_argument("--out", metavar="DIR", help="output folder: success/, error/ and log/ are written there")
    p.add_argument(
        "--queue",
        metavar="URL",
        help="send each job to this Redis queue (redis://HOST:PORT/DB) for `worker`s to run, instead of running it",
    )
    p.add_argument("--tenant", metavar="NAME", help="with --queue: the named connection the workers use for these jobs")
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

    def trigger_options(p, what: str) -> None:
        p.add_argument(
            "--flow", metavar="FILE", required=True, help="flow file run for each event (it may declare a trigger:)"
        )
        p.add_argument(
            "--out",
            metavar="DIR",
            required=True,
            help=f"output folder: success/, error/, log/, inbox/ (queued {what}) and .trigger/ (private state)",
        )
        p.add_argument("--workers", type=int, default=4, metavar="N", help="jobs processed concurrently (default 4)")
        p.add_argument(
            "--retry-for",
            type=float,
            default=3600.0,
            metavar="SECONDS",
            help="hold jobs that failed for a passing reason and retry them this long (default 3600)",
        )
        p.add_argument("--log-json", metavar="FILE", help="append every event as JSON Lines to FILE")
        p.add_argument(
            "--summary-every", type=float, default=60.0, metavar="SECONDS", help="summary line period (default 60)"
        )
        p.add_argument("--quiet", action="store_true", help="no per-job lines on stderr")
        p.add_argument(
            "--queue",
            metavar="URL",
            help=f"send each job to this Redis queue (redis://HOST:PORT/DB) for `worker`s to run; OUT keeps "
            f"the inbox of {what} not yet sent, the trigger state and quarantined files",
        )
        p.add_argument(
            "--tenant", metavar="NAME", help="with --queue: the named connection the workers use for these jobs"
        )

    p = add(
        "listen",
        cmd_listen,
        "start a flow on Pipedrive webhooks: register them, receive events, run each once",
        epilog=LISTEN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trigger_options(p, "events")
    p.add_argument("--port", type=int, required=True, metavar="N", help="port to receive events on (0: any free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the address Pipedrive reaches this listener at (a tunnel or reverse proxy), without the path; "
        "default http://HOST:PORT",
    )
    p.add_argument(
        "--event",
        action="append",
        metavar="EVENT",
        help="ACTION.OBJECT, e.g. change.deal, create.person, *.deal (repeatable; default: the flow's trigger)",
    )
    p.add_argument("--keep", action="store_true", help="leave the webhooks registered when stopping")
    p.add_argument(
        "--catch-up-every",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="poll for changes no webhook brought (downtime, a ban) this often (default 300)",
    )
    p.add_argument(
        "--catch-up-grace",
        type=float,
        default=200.0,
        metavar="SECONDS",
        help="leave changes younger than this to their webhook, whose retries take up to 183 s (default 200)",
    )

    p = add(
        "poll",
        cmd_poll,
        "start a flow on changed records, listed from Pipedrive every few seconds; each change once",
        epilog=POLL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trigger_options(p, "changes")
    p.add_argument("--entity", required=True, help="deals, persons, organizations, activities or products")
    p.add_argument("--state", metavar="FILE", help="cursor file (default OUT/.trigger/poll-ENTITY.json)")
    p.add_argument("--interval", type=float, default=60.0, metavar="SECONDS", help="time between polls (default 60)")
    p.add_argument("--once", action="store_true", help="poll once, run the jobs, exit")
    p.add_argument(
        "--since",
        metavar="TIME",
        help="first run only: start at changes from this time (RFC 3339); default: every record",
    )

    p = add(
        "worker",
        cmd_worker,
        "run queued jobs from Redis; start any number, on any machines (see docs/scale.md)",
        epilog=QUEUE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--queue", metavar="URL", required=True, help="the Redis queue: redis://HOST:PORT/DB")
    p.add_argument(
        "--flow", action="append", metavar="FILE", help="take only this flow's jobs (repeatable; default: every flow)"
    )
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="jobs run at once (default 4)")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write routed jobs to DIR/success, DIR/error, DIR/log (default: keep them in Redis)",
    )
    p.add_argument("--connections", metavar="DIR", help="folder of named connections (NAME.yaml) jobs may use")
    p.add_argument(
        "--allow-files-from", action="append", metavar="DIR", help="a folder job attachments may come from (repeatable)"
    )
    p.add_argument(
        "--retry-for",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="hold passing failures this long (default 3600)",
    )
    p.add_argument(
        "--daily-budget", type=int, metavar="TOKENS", help="stop sending for a company past this many tokens a day"
    )
    p.add_argument(
        "--lease",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a job is another worker's to resume after this long without its worker (default 30)",
    )
    p.add_argument(
        "--dead-after",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="a worker silent this long is dead: its queued messages go to others (default 60)",
    )
    p.add_argument("--log-json", metavar="FILE", help="append every event as JSON Lines to FILE")
    p.add_argument("--quiet", action="store_true", help="no per-job lines on stderr")

    p = add(
        "enqueue",
        cmd_enqueue,
        "send job files to a Redis queue for the workers; prints their ids",
        epilog=QUEUE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--queue", metavar="URL", required=True, help="the Redis queue: redis://HOST:PORT/DB")
    p.add_argument(
        "--flow", metavar="FILE", required=True, help="the flow the jobs run through (checked now, sent with each job)"
    )
    p.add_argument(
        "--tenant", metavar="NAME", help="the named connection the workers use (NAME.yaml in their --connections)"
    )
    p.add_argument("jobs", nargs="+", metavar="JOB.json", help="job files")

    p = add(
        "result",
        cmd_result,
        "print a queued job's state, or its routed job once done (exit 0 success, 1 error, 4 not done yet)",
        epilog=QUEUE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--queue", metavar="URL", required=True, help="the Redis queue: redis://HOST:PORT/DB")
    p.add_argument("job_id", metavar="JOB_ID", help="an id printed by enqueue")
    p.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait up to this long for the job to be routed"
    )

    p = add("requeue", cmd_requeue, "put a routed job (success/ or error/ output) back into an inbox as a new job")
    p.add_argument("output", metavar="OUTPUT_FILE", help="the routed job file, e.g. out/error/order-1042.json")
    p.add_argument("--in", dest="in_dir", metavar="DIR", required=True, help="the inbox to drop it into")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the steps that succeeded (not run again) and go on at the failed step",
    )

    p = add(
        "serve",
        cmd_serve,
        "serve the flow designer: a JSON API and a page to build, test and save flows (docs/designer.md)",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=8080, metavar="N", help="port to listen on (default 8080; 0 picks one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --auth-token)")
    p.add_argument(
        "--sandbox", action="store_true", help="start the local sandbox with sample data here and use it (no account)"
    )
    p.add_argument(
        "--auth-token",
        metavar="T",
        help="callers must send Authorization: Bearer T (required off loopback; "
        "or set PIPEDRIVE_CONNECT_DESIGNER_TOKEN)",
    )
    p.add_argument(
        "--allow-files-from",
        action="append",
        metavar="DIR",
        help="a folder the files of test jobs may come from (repeatable; default: none)",
    )
    p.add_argument(
        "--oauth-client-id",
        metavar="ID",
        help='offer "Connect to Pipedrive" with this OAuth app (Developer Hub); the tokens go to --connection FILE',
    )
    p.add_argument(
        "--oauth-client-secret",
        default=os.environ.get("PIPEDRIVE_CLIENT_SECRET"),
        metavar="SECRET",
        help="the app's client secret (default: $PIPEDRIVE_CLIENT_SECRET, which keeps it out of the process list)",
    )
    p.add_argument(
        "--oauth-base",
        default="https://oauth.pipedrive.com",
        metavar="URL",
        help="the OAuth server (default https://oauth.pipedrive.com)",
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
