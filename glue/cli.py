"""`python -m glue` (console script `glue`): the command line of the planner's data layer.

Exit codes: 0 success, 1 the command ran and found a problem (drift, mismatches), 2 bad usage or a
refused operation, 3 the database could not be reached.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import psycopg

from glue import migrate as migrations
from glue.config import database_url

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

Handler = Callable[[argparse.Namespace], int]


def _say(msg: str) -> None:
    print(msg, flush=True)


def cmd_db(args: argparse.Namespace) -> int:
    from glue import platform

    if args.action == "reset":
        platform.reset(args.database_url, seed=not args.no_seed, log=_say)
        return EXIT_OK
    return platform.localdb(args.action)


def cmd_migrate(args: argparse.Namespace) -> int:
    if args.status:
        todo = migrations.pending(args.database_url)
        for m in todo:
            _say(f"pending {m.filename}")
        _say(f"{len(todo)} pending")
        return EXIT_OK
    done = migrations.migrate(args.database_url, log=_say, include_all=args.include_all)
    _say(f"{len(done)} applied" if done else "nothing to apply: the database is up to date")
    return EXIT_OK


def cmd_functions_migration(_args: argparse.Namespace) -> int:
    _path, message = migrations.write_functions_migration()
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
    from glue import seed

    summary = seed.generate_and_load(
        args.database_url, pupils=args.pupils, seed=args.seed, replace=not args.keep, show_progress=True
    )
    _say(summary.describe())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glue",
        description="The school planner's data layer: database, migrations, data, reports and queue.",
        epilog="The database is DATABASE_URL, else the embedded default on 127.0.0.1:$PGPORT (54322).",
    )
    parser.add_argument(
        "--database-url", default=None, help="connection string (default: DATABASE_URL or the embedded db)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("db", help="the embedded database: start, stop, status, reset")
    p.add_argument("action", choices=["start", "stop", "status", "reset"])
    p.add_argument("--no-seed", action="store_true", help="reset without loading supabase/seed.sql")
    p.set_defaults(handler=cmd_db)

    p = sub.add_parser("migrate", help="apply pending supabase/migrations in order")
    p.add_argument("--status", action="store_true", help="list pending migrations, apply nothing")
    p.add_argument(
        "--include-all",
        action="store_true",
        help="also apply pending migrations older than the newest applied one (like supabase db push)",
    )
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("functions-migration", help="render supabase/functions_sql/ into a migration")
    p.set_defaults(handler=cmd_functions_migration)

    p = sub.add_parser("drift", help="check that the migrations install exactly supabase/functions_sql/")
    p.set_defaults(handler=cmd_drift)

    p = sub.add_parser("seed", help="generate a realistic school and load it with COPY")
    p.add_argument("--pupils", type=int, default=1000, help="number of pupils (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same school")
    p.add_argument("--keep", action="store_true", help="add to existing data instead of replacing it")
    p.set_defaults(handler=cmd_seed)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.database_url is None:
        args.database_url = database_url()
    handler: Handler = args.handler
    try:
        return handler(args)
    except migrations.MigrationError as exc:
        print(f"glue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        print(f"glue: cannot reach the database: {first} (is it running? try 'make db')", file=sys.stderr)
        return EXIT_UNREACHABLE
    except psycopg.Error as exc:
        diag = exc.diag
        print(f"glue: [{diag.sqlstate}] {diag.message_primary or exc}", file=sys.stderr)
        if diag.message_detail:
            print(f"  detail: {diag.message_detail}", file=sys.stderr)
        if diag.message_hint:
            print(f"  hint: {diag.message_hint}", file=sys.stderr)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        print("glue: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the platform's own refusals and the like: no traceback for users
        from glue.platform import PlatformError

        if isinstance(exc, PlatformError | ValueError):
            print(f"glue: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise
