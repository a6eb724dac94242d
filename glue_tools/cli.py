"""`glue` (the console script; also `python -m glue_tools`): the command line of the planner's data layer.

Exit codes: 0 success, 1 the command ran and found a problem (drift, mismatches), 2 bad usage or a
refused operation, 3 the database could not be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

import psycopg

from glue.config import Settings
from glue.rpc import PgRpc, RpcClient, RpcError, client_from_env
from glue_tools import migrate as migrations
from glue_tools import supabase_cli

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

Handler = Callable[[argparse.Namespace], int]


def _say(msg: str) -> None:
    print(msg, flush=True)


def cmd_db(args: argparse.Namespace) -> int:
    from glue_tools import platform

    if args.action == "reset":
        platform.reset(args.database_url, seed=not args.no_seed, log=_say)
        return EXIT_OK
    return platform.localdb(args.action)


def cmd_migrate(args: argparse.Namespace) -> int:
    # Reach the database first, so that an unreachable one reads as for every other command.
    psycopg.connect(args.database_url, connect_timeout=10).close()
    if args.status:
        todo = supabase_cli.pending(args.database_url)
        for name in todo:
            _say(f"pending {name}")
        _say(f"{len(todo)} pending")
        return EXIT_OK
    done = supabase_cli.push(args.database_url, include_all=args.include_all)
    for name in done:
        _say(f"applied {name}")
    _say(f"{len(done)} applied (supabase db push)" if done else "nothing to apply: the database is up to date")
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    if args.lock:
        added = migrations.lock_history()
        _say(f"recorded {', '.join(added)} in supabase/migrations.sha256" if added else "nothing new to record")
        return EXIT_OK
    problems = migrations.check_history()
    for p in problems:
        _say(f"history: {p}")
    if problems:
        return EXIT_PROBLEM
    _say(f"history intact: {len(migrations.read_manifest())} landed migrations unchanged")
    return EXIT_OK


def cmd_functions_migration(args: argparse.Namespace) -> int:
    try:
        _path, message = migrations.write_functions_migration(args.database_url)
    except migrations.MigrationError as exc:
        print(f"glue: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    _say(message)
    return EXIT_OK


def cmd_drift(args: argparse.Namespace) -> int:
    problems = migrations.check_drift(args.database_url)
    for p in problems:
        _say(f"drift: {p}")
    if problems:
        _say("run 'make functions-migration' to add a migration that installs functions_sql/")
        return EXIT_PROBLEM
    _say("no drift: replaying the migrations installs exactly supabase/functions_sql/")
    return EXIT_OK


def cmd_seed(args: argparse.Namespace) -> int:
    from glue_tools import seed

    summary = seed.generate_and_load(
        args.database_url, pupils=args.pupils, seed=args.seed, replace=not args.keep, show_progress=True
    )
    _say(summary.describe())
    return EXIT_OK


def _client(args: argparse.Namespace, *, operator: bool = False) -> RpcClient:
    """The RPC transport: SUPABASE_URL + key, else the database of --database-url / DATABASE_URL.

    Calls through the API run under the service role's 8 s statement timeout, as PostgREST runs
    them. `operator` work (a whole-school verification) may take longer: over a direct database
    connection it runs without that timeout; through supabase-py it keeps it (docs/platform.md).
    """
    if args.settings.supabase_url and not args.database_url_given:
        return client_from_env(args.settings)
    # Fail at once when the database cannot be reached (exit 3), rather than after the pool's 30 s
    # wait for a connection, with its retries logged on the way.
    psycopg.connect(args.database_url, connect_timeout=10).close()
    return PgRpc(args.database_url, statement_timeout="0" if operator else None)


def cmd_backfill(args: argparse.Namespace) -> int:
    from glue_tools import backfill

    done = backfill.run(args.database_url, batch_size=args.batch_size, show_progress=True)
    _say(
        f"backfilled {done['pupils_done']:,} pupils in {done['elapsed_s']}s "
        f"({done['pupils_changed']:,} with rows written; run {done['run_id']})"
    )
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from glue_tools import importer

    try:
        result = importer.run(
            args.database_url,
            args.source,
            source_schema=args.source_schema,
            dry_run=args.dry_run,
            strict=args.strict,
            batch_size=args.batch_size,
            show_progress=not args.json,
            log=(lambda _m: None) if args.json else _say,
        )
    except importer.SourceError as exc:
        print(f"glue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        _say(
            json.dumps(
                {**result.report, "copied": result.copied, "seconds": result.seconds, "backfill": result.backfill},
                indent=2,
            )
        )
    else:
        _say(importer.describe(result, max_issues=args.max_issues))
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    import logging
    import threading

    from glue import worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    worker.install_signal_handlers(stop)
    client = _client(args)
    claims = f"claims of {args.batch_size or 'the default size'}"
    _say(f"worker: draining report jobs ({claims}); Ctrl-C stops after the current job")
    try:
        stats = worker.run(
            client,
            batch_size=args.batch_size,
            max_ms=args.max_ms,
            stop=stop,
            **({"idle_max": args.idle_max} if args.idle_max is not None else {}),
            until_empty=args.until_empty,
        )
    finally:
        client.close()
    _say(
        f"worker: {stats.batches} batches, {stats.processed} jobs ({stats.done} done, {stats.failed} failed, "
        f"{stats.dead} dead), {stats.errors} errors"
    )
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from glue import api
    from glue_tools import render

    client = _client(args)
    try:
        if args.what == "pupil":
            report = api.report_pupil(client, args.id)
            _say(json.dumps(report, indent=2) if args.json else render.pupil_report(report, criteria=args.criteria))
        else:
            report = api.report_group(client, args.id)
            _say(json.dumps(report, indent=2) if args.json else render.group_report(report, max_units=args.units))
    finally:
        client.close()
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from glue import api

    client = _client(args, operator=args.sample is None)
    try:
        if args.pupil:
            diffs = api.report_verify(client, args.pupil)
            for d in diffs:
                _say(f"{d['kind']} {d['key']}: {d['difference']}\n  stored {d['stored']}\n  live   {d['live']}")
            _say(f"{len(diffs)} differences")
            return EXIT_PROBLEM if diffs else EXIT_OK
        if args.enqueue:
            result = api.report_verify_and_enqueue(client, args.sample)
            _say(
                f"checked {result['pupils_checked']} pupils: {result['pupils_mismatched']} mismatched "
                f"({result['differences']} differences), {result['enqueued']} enqueued for recalculation"
            )
            return EXIT_PROBLEM if result["pupils_mismatched"] else EXIT_OK
        sweep = api.report_verify_sweep(client, args.sample)
        _say(
            f"checked {sweep['pupils_checked']} pupils: {sweep['pupils_mismatched']} mismatched, "
            f"{sweep['differences']} differences"
        )
        for pupil in sweep["mismatched_pupils"][:20]:
            _say(f"  mismatched: {pupil} (glue verify --pupil {pupil})")
        return EXIT_PROBLEM if sweep["pupils_mismatched"] else EXIT_OK
    finally:
        client.close()


def cmd_health(args: argparse.Namespace) -> int:
    from glue import api
    from glue_tools import render

    client = _client(args)
    try:
        health = api.report_queue_health(client)
        failures = api.report_jobs_failures(client)
    finally:
        client.close()
    _say(
        json.dumps({"queue": health, "failures": failures}, indent=2)
        if args.json
        else render.queue_health(health, failures)
    )
    # The database's verdict (report_queue_health().problems): any problem is a failure.
    return EXIT_PROBLEM if health.get("problems") or health["dead"] or health.get("nothing_drains") else EXIT_OK


def cmd_schedule(args: argparse.Namespace) -> int:
    from glue import api

    client = _client(args)
    try:
        done = api.report_queue_schedule(client, args.interval)
    except RpcError as exc:
        print(
            f"glue: {exc.message} [{exc.sqlstate}]"
            + (f" {exc.detail}" if exc.detail else "")
            + (f" ({exc.hint})" if exc.hint else ""),
            file=sys.stderr,
        )
        return EXIT_USAGE if exc.sqlstate == "PLV16" else EXIT_PROBLEM
    finally:
        client.close()
    for job in done.get("scheduled") or []:
        _say(
            f"scheduled {job['jobname']}: {job['schedule']} {job['command']}" + ("" if job["active"] else " (inactive)")
        )
    _say(f"the drain runs every {done['drain_interval_s']} s (pg_cron {done['pg_cron']})")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from glue.results import Results
    from glue.webhook import WebhookApp

    # The webhook's own key, never the service role key: whoever holds it is the AI vendor.
    key = args.settings.ai_webhook_key
    if not key:
        print(
            "glue: set AI_WEBHOOK_KEY to the key the AI marker must send (a secret of its own: the webhook"
            " never accepts SUPABASE_SERVICE_ROLE_KEY in its place)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    client = _client(args)
    app = WebhookApp(Results(client), key)
    _say(f"serving POST http://{args.host}:{args.port}/api/mcp/ai-marks and GET /health")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    client.close()
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    from glue_tools import watch

    client = _client(args)
    if args.as_user:
        if not isinstance(client, PgRpc):
            print("glue: --as works with a direct database connection only", file=sys.stderr)
            return EXIT_USAGE
        client = client.as_user(args.as_user)
    try:
        return watch.run(
            client,
            args.group,
            args.lesson,
            dsn=args.database_url,
            user_id=args.as_user,
            once=args.once,
            max_seconds=args.seconds,
        )
    finally:
        client.close()


def cmd_demo(args: argparse.Namespace) -> int:
    from glue_tools import demo

    demo.run(args.database_url, pupils=args.pupils, seed_value=args.seed)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glue",
        description="The school planner's data layer: database, migrations, data, reports and queue.",
        epilog="The database is DATABASE_URL, else the embedded default on 127.0.0.1:$PGPORT (54332).",
    )
    parser.add_argument(
        "--database-url", default=None, help="connection string (default: DATABASE_URL or the embedded db)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("db", help="the embedded database: start, stop, status, reset")
    p.add_argument("action", choices=["start", "stop", "status", "reset"])
    p.add_argument("--no-seed", action="store_true", help="reset without loading supabase/seed.sql")
    p.set_defaults(handler=cmd_db)

    p = sub.add_parser("migrate", help="apply pending supabase/migrations in order (supabase db push)")
    p.add_argument("--status", action="store_true", help="list pending migrations, apply nothing")
    p.add_argument(
        "--include-all",
        action="store_true",
        help="also apply pending migrations older than the newest applied one (supabase db push --include-all)",
    )
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser(
        "history", help="fail when a migration recorded in supabase/migrations.sha256 changed or disappeared"
    )
    p.add_argument("--lock", action="store_true", help="record the migrations not recorded yet (when they land)")
    p.set_defaults(handler=cmd_history)

    p = sub.add_parser(
        "functions-migration",
        help="write a migration with what changed in supabase/functions_sql/ (measured in a scratch database)",
    )
    p.set_defaults(handler=cmd_functions_migration)

    p = sub.add_parser("drift", help="check that the migrations install exactly supabase/functions_sql/")
    p.set_defaults(handler=cmd_drift)

    p = sub.add_parser("seed", help="generate a realistic school and load it with COPY")
    p.add_argument("--pupils", type=int, default=1000, help="number of pupils (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same school")
    p.add_argument("--keep", action="store_true", help="add to existing data instead of replacing it")
    p.set_defaults(handler=cmd_seed)

    p = sub.add_parser("backfill", help="recalculate every pupil's cached report, in resumable batches")
    p.add_argument("--batch-size", type=int, default=50, help="pupils per transaction (default 50)")
    p.set_defaults(handler=cmd_backfill)

    p = sub.add_parser(
        "import",
        help="import a school from the planner's own database (docs/import.md)",
        description="Copies the planner's tables into a scratch schema, maps them in one transaction "
        "(private.import_planner), then backfills every report. Re-running updates and adds, never duplicates.",
    )
    p.add_argument("what", choices=["planner"], help="what to import: planner")
    p.add_argument("--source", required=True, help="the planner's database: a postgres URL, or a FILE.sql (pg_dump)")
    p.add_argument("--source-schema", default="public", help="the planner's schema in the source (default public)")
    p.add_argument("--dry-run", action="store_true", help="report what would be imported and skipped; change nothing")
    p.add_argument("--strict", action="store_true", help="refuse the whole import (PLV15) if any row cannot be mapped")
    p.add_argument("--batch-size", type=int, default=50, help="pupils per backfill transaction (default 50)")
    p.add_argument("--max-issues", type=int, default=20, help="skipped rows to list (default 20)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("worker", help="drain the recalculation queue until stopped (SIGTERM/Ctrl-C)")
    p.add_argument("--batch-size", type=int, help="jobs per claim (default: report_jobs_claim's own)")
    p.add_argument(
        "--max-ms", type=int, help="time budget per class-page refresh in ms (default: report_jobs_refresh_groups' own)"
    )
    p.add_argument("--idle-max", type=float, help="longest poll interval when idle, s (default: glue.worker.run's)")
    p.add_argument("--until-empty", action="store_true", help="stop when the queue is empty")
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("report", help="show a pupil report or a class report (from the cache)")
    p.add_argument("what", choices=["pupil", "group"], help="pupil PUPIL_ID, or group GROUP_ID")
    p.add_argument("id", help="the pupil's uuid or the class code")
    p.add_argument("--criteria", action="store_true", help="pupil: list each unit's criteria by level")
    p.add_argument("--units", type=int, default=8, help="group: how many unit columns (default 8)")
    p.add_argument("--json", action="store_true", help="print the RPC's JSON")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("verify", help="compare the cache with the live computation (exit 1 on mismatch)")
    p.add_argument("--pupil", help="one pupil: show every difference")
    p.add_argument("--sample", type=int, default=None, help="check a random sample of N pupils (default: all)")
    p.add_argument("--enqueue", action="store_true", help="enqueue a recalculation for every mismatch")
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser(
        "health",
        help="queue state and whether pg_cron's drain really runs; exit 1 on any problem (pg_cron absent, scheduler "
        "down, drain missing, inactive, failing or not running, dead jobs)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_health)

    p = sub.add_parser("schedule", help="install or repair the queue's pg_cron jobs (after enabling pg_cron)")
    p.add_argument(
        "--interval",
        help="the drain's pg_cron schedule: 'N seconds' (1-59, pg_cron 1.5+) or '* * * * *' (at most a minute); "
        "default: '5 seconds' where pg_cron takes seconds, else every minute with a drain that polls within it",
    )
    p.set_defaults(handler=cmd_schedule)

    p = sub.add_parser("serve", help="the AI marking webhook (POST /api/mcp/ai-marks) and GET /health")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8787)
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("watch", help="the results grid of GROUP and LESSON, updated live")
    p.add_argument("group", help="class code, e.g. 25-8A-CS")
    p.add_argument("lesson", help="lesson uuid")
    p.add_argument("--as", dest="as_user", help="watch as this teacher (user uuid): their access rules apply")
    p.add_argument("--once", action="store_true", help="print the grid once and exit")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    p.set_defaults(handler=cmd_watch)

    p = sub.add_parser("demo", help="the tour: seed, backfill, writes, reports, queue health")
    p.add_argument("--pupils", type=int, default=1000, help="pupils in the generated school (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.set_defaults(handler=cmd_demo)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.settings = Settings.from_env()
    except ValueError as exc:
        print(f"glue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args.database_url_given = args.database_url is not None
    if args.database_url is None:
        args.database_url = args.settings.database
    handler: Handler = args.handler
    try:
        return handler(args)
    except RpcError as exc:
        print(f"glue: [{exc.sqlstate}] {exc.message}", file=sys.stderr)
        if exc.detail:
            print(f"  detail: {exc.detail}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return EXIT_UNREACHABLE if exc.sqlstate == "UNAVAILABLE" or exc.sqlstate.startswith("08") else EXIT_PROBLEM
    except migrations.MigrationError as exc:
        print(f"glue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except supabase_cli.CliError as exc:
        if exc.unreachable:
            print(f"glue: cannot reach the database: {exc} (is it running? try 'make db')", file=sys.stderr)
            return EXIT_UNREACHABLE
        print(f"glue: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        print(f"glue: cannot reach the database: {first} (is it running? try 'make db')", file=sys.stderr)
        return EXIT_UNREACHABLE
    except psycopg.Error as exc:
        diag = exc.diag
        code = f"[{diag.sqlstate}] " if diag.sqlstate else ""  # none for client-side errors (a bad URL)
        print(f"glue: {code}{diag.message_primary or exc}", file=sys.stderr)
        if diag.message_detail:
            print(f"  detail: {diag.message_detail}", file=sys.stderr)
        if diag.message_hint:
            print(f"  hint: {diag.message_hint}", file=sys.stderr)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        print("glue: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the platform's own refusals and the like: no traceback for users
        from glue_tools.platform import PlatformError

        if isinstance(exc, PlatformError | ValueError):
            print(f"glue: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise
