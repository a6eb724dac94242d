"""The Supabase CLI, the project's one migration runner.

The CLI is pinned in the root package.json (`make setup` runs `npm ci`) and runs as
node_modules/.bin/supabase. Every command here takes the CLI's `--db-url` route, the one that needs
no Docker: `db push` applies supabase/migrations/ (and supabase/seed.sql when asked) and records each
version in supabase_migrations.schema_migrations; `db reset` empties the database as on a project
(docs/platform.md) and pushes again; `migration repair` marks versions applied or reverted.

Each migration runs in a transaction of its own: one that fails is rolled back whole, the ones
before it stay applied, and the CLI's error comes back as one line (CliError).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from glue_tools.paths import MIGRATIONS_DIR, ROOT, SEED_SQL

CLI = ROOT / "node_modules" / ".bin" / "supabase"
PACKAGE_JSON = ROOT / "package.json"
CONFIG_TOML = ROOT / "supabase" / "config.toml"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# No update check and no telemetry: every call would wait on the network for them.
_QUIET = {"SUPABASE_NO_UPDATE_NOTIFIER": "1", "SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"}


def _env() -> dict[str, str]:
    """The CLI's environment: this process's as it is now (PGOPTIONS and the like), made quiet."""
    return {**os.environ, **_QUIET}


_APPLYING = re.compile(r"^Applying migration (\S+\.sql)\.\.\.$", re.MULTILINE)


class CliError(Exception):
    """The CLI is missing, is not the pinned version, or refused or failed a command (one line);
    unreachable when it could not connect to the database."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def pinned_version() -> str:
    """The exact version package.json pins."""
    package = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    deps = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    return str(deps["supabase"])


def cli_path() -> Path:
    """node_modules/.bin/supabase, checked to be the pinned version; else how to install it."""
    _check_version(CLI, pinned_version())
    return CLI


@functools.cache
def _check_version(cli: Path, want: str) -> None:
    how = f"install it with 'make setup' (npm ci installs supabase@{want} from package.json)"
    if not cli.exists():
        raise CliError(f"the Supabase CLI is not installed in node_modules: {how}")
    out = subprocess.run([str(cli), "--version"], capture_output=True, text=True, check=False, env=_env())
    have = out.stdout.strip()
    if out.returncode != 0 or have != want:
        raise CliError(f"node_modules/.bin/supabase is {have or 'broken'}, the project pins {want}: {how}")


def _config_db_port() -> int | None:
    if not CONFIG_TOML.exists():
        return None
    port = tomllib.loads(CONFIG_TOML.read_text(encoding="utf-8")).get("db", {}).get("port")
    return int(port) if port is not None else None


def cli_db_url(url: str) -> str:
    """url as the CLI's --db-url: a URL (the CLI takes no key=value conninfo), sslmode=disable on a
    local server. A local server at config.toml's db.port is refused: the CLI takes that for its own
    Docker database and would not use the URL's route."""
    params = conninfo_to_dict(url)
    host = str(params.get("host") or "127.0.0.1")
    port = str(params.get("port") or "5432")
    local = host in _LOCAL_HOSTS or host.startswith("/")
    if local and port == str(_config_db_port()):
        raise CliError(
            f"port {port} is supabase/config.toml's db.port, which the Supabase CLI keeps for its Docker "
            "database: run the local database on another port (PGPORT; the default is 54332)"
        )
    if "://" in url:
        out = url
    else:
        from urllib.parse import quote

        user = quote(str(params.get("user") or "postgres"), safe="")
        password = params.get("password")
        auth = f"{user}:{quote(str(password), safe='')}" if password else user
        out = f"postgresql://{auth}@{host}:{port}/{quote(str(params.get('dbname') or 'postgres'), safe='')}"
    if local and "sslmode=" not in out:
        out += ("&" if "?" in out else "?") + "sslmode=disable"
    return out


_NOISE = ("Connecting to ", "Try rerunning the command", "Do you want to", "•", "[Y/n]", "Would push", "DRY RUN")


def _one_line(output: str) -> str:
    """The CLI's error as one line: the migration it was applying, its ERROR line and the first line
    of the statement it names; else every line of its message, joined."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    applying = ""
    for i, line in enumerate(lines):
        if m := _APPLYING.match(line):
            applying = f"migration {m.group(1)} failed and was rolled back: "
        elif line.startswith("Seeding data from "):
            applying = f"{line.removeprefix('Seeding data from ').rstrip('.')} failed: "
        elif line.startswith("ERROR:"):
            where = ""
            if i + 1 < len(lines) and lines[i + 1].startswith("At statement"):
                at = lines[i + 1].replace("At statement:", "at statement").rstrip(":")
                statement = next((s for s in lines[i + 2 :] if not s.startswith("--")), "")
                where = f" ({at}: {statement[:120]})"
            return applying + line + where
    message = [
        line
        for line in lines
        if not line.startswith(_NOISE) and not _APPLYING.match(line) and not line.startswith("Seeding data")
    ]
    return " ".join(message) if message else "no output"


def run(args: Sequence[str], *, workdir: Path = ROOT) -> str:
    """Run the pinned CLI in workdir (its supabase/ folder is the project); the output, or CliError."""
    cmd = [str(cli_path()), *args]
    out = subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, env=_env()
    )
    text = out.stdout + out.stderr
    if out.returncode != 0:
        command = f"supabase {args[0]} {args[1] if len(args) > 1 else ''}".rstrip()
        raise CliError(f"{command}: {_one_line(text)}", unreachable="failed to connect to postgres" in text)
    return text


@contextmanager
def _workdir(migrations_dir: Path, seed: Path | None) -> Iterator[Path]:
    """The checkout itself, or a temporary project holding only migrations_dir (and the seed)."""
    if migrations_dir.resolve() == MIGRATIONS_DIR.resolve() and (seed is None or seed == SEED_SQL):
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="planner_cli_") as tmp:
        project = Path(tmp) / "supabase"
        shutil.copytree(migrations_dir, project / "migrations")
        config = ["[db]", "major_version = 15", "[db.seed]", f"enabled = {'true' if seed else 'false'}"]
        if seed is not None:
            shutil.copy(seed, project / "seed.sql")
            config.append('sql_paths = ["./seed.sql"]')
        (project / "config.toml").write_text("\n".join(config) + "\n", encoding="utf-8")
        yield Path(tmp)


def push(
    url: str,
    migrations_dir: Path = MIGRATIONS_DIR,
    *,
    include_all: bool = False,
    seed: Path | None = None,
) -> list[str]:
    """`supabase db push`: apply the pending migrations of migrations_dir, in order (with
    include_all, also those older than the newest applied one), then seed when given. Returns the
    files applied."""
    args = ["db", "push", "--db-url", cli_db_url(url), "--yes"]
    if include_all:
        args.append("--include-all")
    if seed is not None:
        args.append("--include-seed")
    with _workdir(migrations_dir, seed) as workdir:
        output = run(args, workdir=workdir)
    return _APPLYING.findall(output)


def reset(url: str, *, seed: bool = True) -> list[str]:
    """`supabase db reset --db-url`: drop the project's objects as the CLI does on a project, then
    apply every migration and (unless seed is False) supabase/seed.sql. Returns the files applied."""
    args = ["db", "reset", "--db-url", cli_db_url(url), "--yes"]
    if not seed:
        args.append("--no-seed")
    return _APPLYING.findall(run(args))


def pending(url: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """`supabase db push --dry-run`: the migration files a push would apply."""
    with _workdir(migrations_dir, None) as workdir:
        output = run(["db", "push", "--dry-run", "--db-url", cli_db_url(url), "--yes"], workdir=workdir)
    return re.findall(r"^ • (\S+\.sql)$", output, re.MULTILINE)


def repair(url: str, versions: Sequence[str], status: str = "applied") -> None:
    """`supabase migration repair`: record versions as applied (or reverted) without running them."""
    run(["migration", "repair", "--status", status, "--db-url", cli_db_url(url), "--yes", *versions])
