"""Run a command against a migrated scratch database: the database a new Supabase project has, where
pg_cron is off (the platform puts pg_cron only in the database `postgres`). `make test` runs the
pgTAP suites and `supabase db lint` this way too, so both pass with and without pg_cron.

    python -m glue_tools.scratch [--database-url URL] -- COMMAND ARGS...

Every `{url}` in the arguments becomes the scratch database's URL (postgresql://...), every
`{dbname}` its name (pg_prove takes a name, not a URL); the database is dropped afterwards. The
exit code is the command's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence

from psycopg.conninfo import conninfo_to_dict

from glue.config import database_url
from glue_tools.localdb import scratch_database
from glue_tools.supabase_cli import cli_db_url, push


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m glue_tools.scratch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="the server to make it on (default: DATABASE_URL)")
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS ({url}, {dbname}: the scratch database)"
    )
    args = parser.parse_args(argv)
    command = list(args.command[1:] if args.command[:1] == ["--"] else args.command)
    if not command:
        parser.error("no command given")
    with scratch_database(args.database_url or database_url(), "planner_nocron") as url:
        push(url)
        uri = cli_db_url(url)
        print(f"scratch database without pg_cron: {uri}", flush=True)
        name = str(conninfo_to_dict(url).get("dbname"))
        return subprocess.run(
            [a.replace("{url}", uri).replace("{dbname}", name) for a in command], check=False
        ).returncode


if __name__ == "__main__":
    sys.exit(main())
