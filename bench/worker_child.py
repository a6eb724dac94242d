"""A worker process for the memory figure of scenario 9: `python -m bench.worker_child <database url>`.

Runs glue.worker.run (PgRpc as service_role) until the queue is empty, then prints one JSON line: the
jobs it processed, its own peak resident set (VmHWM from /proc/self/status and ru_maxrss) and that
of the Postgres backend(s) serving its pool (application_name glue on this database).
"""

from __future__ import annotations

import json
import os
import resource
import sys

import psycopg

from bench.school import vmhwm_kb
from glue import worker
from glue.rpc import PgRpc


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.worker_child <database url>", file=sys.stderr)
        return 2
    url = argv[0]
    client = PgRpc(url, max_size=1)
    try:
        stats = worker.run(client, idle_min=0.005, idle_max=0.05, until_empty=True)
        with psycopg.connect(url, autocommit=True) as conn:
            pids = [
                int(r[0])
                for r in conn.execute(
                    "select pid from pg_stat_activity where datname = current_database() and application_name = 'glue'"
                )
            ]
    finally:
        client.close()
    print(
        json.dumps(
            {
                "processed": stats.processed,
                "done": stats.done,
                "batches": stats.batches,
                "self": vmhwm_kb(os.getpid()),
                "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "backends": [vmhwm_kb(p) for p in pids],
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
