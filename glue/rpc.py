"""Calling the database's RPCs: one interface, two real transports.

- `SupabaseRpc`: supabase-py over HTTP (`client.rpc(fn, params).execute()`), as in production.
- `PgRpc`: psycopg 3 with a connection pool. Each call is one transaction that does what PostgREST
  does per request: `set_config('role', ...)` and `request.jwt.claims`, then the function call with
  named arguments, so RLS, grants and the RPCs' own checks behave identically.

Both return what PostgREST returns (JSON values: dicts, lists, numbers, strings, None) and raise
`RpcError` subclasses carrying the SQLSTATE, message, detail and hint.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from glue.config import Settings, database_url

JSON = Any


# --- errors ----------------------------------------------------------------------------------------


class RpcError(Exception):
    """An RPC failed. `sqlstate` is the database's error code (e.g. PLV02, 42501)."""

    def __init__(
        self,
        sqlstate: str,
        message: str,
        detail: str | None = None,
        hint: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(f"[{sqlstate}] {message}")
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail
        self.hint = hint
        self.http_status = http_status


class NotAllowed(RpcError):
    """42501: the caller may not do this."""


class NotFound(RpcError):
    """PLN**: an id that does not exist; PGRST202: no such function."""


class InvalidInput(RpcError):
    """PLV**, 22***, 23***: the input was refused; nothing was written."""


class Conflict(RpcError):
    """PLS**, 40001, 40P01: the state did not allow it, or a concurrent write won; retryable or not."""


class Unavailable(RpcError):
    """The database or the API could not be reached, or is overloaded."""


def error_for(
    sqlstate: str | None,
    message: str | None,
    detail: str | None = None,
    hint: str | None = None,
    http_status: int | None = None,
) -> RpcError:
    """The typed error for a SQLSTATE (shared by both transports)."""
    code = sqlstate or "XX000"
    text = message or "unknown error"
    kind: type[RpcError]
    if code == "42501":
        kind = NotAllowed
    elif code.startswith("PLN") or code in {"PGRST202", "42883", "42P01"}:
        kind = NotFound
    elif code.startswith(("PLV", "22", "23")):
        kind = InvalidInput
    elif code.startswith("PLS") or code in {"40001", "40P01"}:
        kind = Conflict
    elif code.startswith(("08", "53", "57P")) or code == "UNAVAILABLE":
        kind = Unavailable
    else:
        kind = RpcError
    return kind(code, text, detail, hint, http_status)


# --- the interface ---------------------------------------------------------------------------------


@runtime_checkable
class RpcClient(Protocol):
    """What the rest of glue needs from a transport."""

    def call(self, fn: str, params: Mapping[str, JSON] | None = None) -> JSON:
        """Call public.<fn> with named parameters; return its JSON result."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _json_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} cannot be sent as JSON")


def encode_params(params: Mapping[str, Any]) -> str:
    """The arguments as the JSON body PostgREST receives; refused like PostgREST refuses bad JSON."""
    try:
        return json.dumps(dict(params), default=_json_default, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise error_for("22P02", f"the arguments cannot be sent as JSON: {exc}", http_status=400) from exc


# --- psycopg ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Signature:
    args: dict[str, str]  # name -> type, in declaration order
    returns_set: bool


_SIGNATURE = """
select p.proargnames, array(select format_type(t, null) from unnest(p.proargtypes) as t), p.proretset,
       p.proargmodes
from pg_proc as p
join pg_namespace as n on n.oid = p.pronamespace
where n.nspname = 'public' and p.proname = %s and p.prokind = 'f'
"""


# The timeouts PostgREST runs a request under: those of its login role (authenticator), overridden by
# those of the role it switches to (on Supabase: anon 3 s, authenticated 8 s, authenticator 8 s and
# locks 8 s). Read from the catalog, so that a project's own settings are the ones emulated.
_ROLE_TIMEOUTS = """
select split_part(c.setting, '=', 1), substr(c.setting, strpos(c.setting, '=') + 1)
from pg_db_role_setting as d
join pg_roles as r on r.oid = d.setrole
cross join lateral unnest(d.setconfig) with ordinality as c (setting, n)
where r.rolname in ('authenticator', %s)
  and d.setdatabase in (0, (select oid from pg_database where datname = current_database()))
  and split_part(c.setting, '=', 1) in ('statement_timeout', 'lock_timeout')
order by r.rolname = %s, d.setdatabase, c.n
"""


class PgRpc:
    """RPCs over psycopg, one transaction per call, as PostgREST runs them.

    `role` is the role the call runs as (service_role by default, as with the service key);
    `as_user(user_id)` gives a client acting as that signed-in user (role authenticated, claims
    with sub), sharing the same pool. Each call runs under the role's statement and lock timeouts
    as PostgREST applies them (_ROLE_TIMEOUTS); `statement_timeout` overrides the statement's.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        role: str = "service_role",
        claims: Mapping[str, Any] | None = None,
        pool: ConnectionPool | None = None,
        max_size: int = 8,
        statement_timeout: str | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.dsn = dsn or database_url()
        self.role = role
        self.claims = dict(claims) if claims is not None else {"role": role}
        self.statement_timeout = statement_timeout
        self.connect_timeout = connect_timeout
        self._owns_pool = pool is None
        self.pool = pool or ConnectionPool(
            self.dsn,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "application_name": "glue"},
            open=True,
            name="glue-rpc",
        )
        self._signatures: dict[str, _Signature] = {}
        self._timeouts: dict[str, tuple[str, str]] = {}  # role -> (statement_timeout, lock_timeout)
        self._lock = threading.Lock()

    def as_user(self, user_id: uuid.UUID | str) -> PgRpc:
        """The same pool, acting as a signed-in user."""
        return self._view("authenticated", {"sub": str(user_id), "role": "authenticated"})

    def as_role(self, role: str) -> PgRpc:
        """The same pool, acting as anon, authenticated (no user) or service_role."""
        return self._view(role, {"role": role})

    def _view(self, role: str, claims: Mapping[str, Any]) -> PgRpc:
        view = PgRpc(
            self.dsn,
            role=role,
            claims=claims,
            pool=self.pool,
            statement_timeout=self.statement_timeout,
            connect_timeout=self.connect_timeout,
        )
        view._signatures = self._signatures
        view._timeouts = self._timeouts
        return view

    def close(self) -> None:
        if self._owns_pool:
            self.pool.close()

    def _signature(self, conn: psycopg.Connection, fn: str) -> _Signature:
        with self._lock:
            cached = self._signatures.get(fn)
        if cached is not None:
            return cached
        rows = conn.execute(_SIGNATURE, (fn,)).fetchall()
        if len(rows) != 1:
            raise error_for(
                "PGRST202",
                f"Could not find the function public.{fn} in the schema cache"
                if not rows
                else f"public.{fn} is overloaded; RPCs need one signature",
                http_status=404,
            )
        names, types, returns_set, modes = rows[0]
        if modes is not None:  # OUT/TABLE columns are not parameters
            pairs = [(n, t) for n, t, m in zip(names, types, modes, strict=False) if m in ("i", "b", "v")]
        else:
            pairs = list(zip(names or [], types, strict=True))
        sig = _Signature(dict(pairs), bool(returns_set))
        with self._lock:
            self._signatures[fn] = sig
        return sig

    def _role_timeouts(self, conn: psycopg.Connection) -> tuple[str, str]:
        """(statement_timeout, lock_timeout) for this role, as PostgREST would run it ('0': none)."""
        with self._lock:
            cached = self._timeouts.get(self.role)
        if cached is not None:
            return cached
        rows: list[tuple[str, str]] = conn.execute(_ROLE_TIMEOUTS, (self.role, self.role)).fetchall()
        found = dict(rows)  # the role's own settings come last, so they win
        timeouts = (found.get("statement_timeout", "0"), found.get("lock_timeout", "0"))
        with self._lock:
            self._timeouts[self.role] = timeouts
        return timeouts

    def call(self, fn: str, params: Mapping[str, JSON] | None = None) -> JSON:
        args = dict(params or {})
        try:
            with self.pool.connection(timeout=self.connect_timeout) as conn, conn.transaction():
                statement_timeout, lock_timeout = self._role_timeouts(conn)
                conn.execute(
                    "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
                    " set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                    (
                        self.role,
                        json.dumps(self.claims),
                        self.statement_timeout or statement_timeout,
                        lock_timeout,
                    ),
                )
                query, values = self._build(conn, fn, args)
                row = conn.execute(query, values).fetchone()
        except psycopg.OperationalError as exc:
            raise error_for(
                exc.sqlstate or "UNAVAILABLE", str(exc).strip().splitlines()[0] if str(exc) else "unavailable"
            ) from exc
        except psycopg.Error as exc:
            d = exc.diag
            raise error_for(d.sqlstate, d.message_primary or str(exc), d.message_detail, d.message_hint) from exc
        return None if row is None else row[0]

    def _build(self, conn: psycopg.Connection, fn: str, args: dict[str, Any]) -> tuple[sql.Composed, list[Any]]:
        sig = self._signature(conn, fn)
        unknown = sorted(set(args) - set(sig.args))
        if unknown:
            raise error_for(
                "PGRST202",
                f"Could not find the function public.{fn}({', '.join(sorted(args))}) in the schema cache",
                detail=f"unknown parameters: {', '.join(unknown)}",
                http_status=404,
            )
        # As PostgREST does: the whole body is one JSON value and PostgreSQL converts each argument to
        # its parameter's type (json_to_record), so a wrong type is the database's clean 22P02. The
        # result comes back as json (a json result as built, without a round through jsonb).
        given = [(name, typ) for name, typ in sig.args.items() if name in args]
        columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in given)
        named = sql.SQL(", ").join(sql.SQL("{} => r.{}").format(sql.Identifier(n), sql.Identifier(n)) for n, _ in given)
        call = sql.SQL("public.{}({})").format(sql.Identifier(fn), named)
        source = sql.SQL("json_to_record({}::json) as r ({})").format(sql.Placeholder(), columns)
        values: list[Any] = [encode_params({n: args[n] for n, _ in given})] if given else []
        if sig.returns_set:
            query = (
                sql.SQL("select coalesce(json_agg(x), '[]'::json) from {} cross join lateral {} as x").format(
                    source, call
                )
                if given
                else sql.SQL("select coalesce(json_agg(x), '[]'::json) from {} as x").format(call)
            )
        else:
            query = (
                sql.SQL("select to_json({}) from {}").format(call, source)
                if given
                else sql.SQL("select to_json({})").format(call)
            )
        return query, values


# --- supabase-py -----------------------------------------------------------------------------------


class SupabaseRpc:
    """RPCs through supabase-py (PostgREST over HTTP). Retries are off: a write is sent once."""

    def __init__(self, url: str, key: str, access_token: str | None = None) -> None:
        from supabase import ClientOptions, create_client

        self.url = url
        self.key = key
        self.access_token = access_token
        import httpx

        # Our own HTTP client (a timeout, no retries: a write is sent once) instead of supabase-py's
        # deprecated per-client timeout settings.
        self._http = httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))
        self.client = create_client(url, key, ClientOptions(postgrest_client_retry=False, httpx_client=self._http))
        if access_token:
            self.client.postgrest.auth(access_token)

    def as_user(self, access_token: str) -> SupabaseRpc:
        """A client acting as the user whose access token (JWT) this is."""
        return SupabaseRpc(self.url, self.key, access_token)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self._http.close()

    def call(self, fn: str, params: Mapping[str, JSON] | None = None) -> JSON:
        import httpx
        from postgrest.exceptions import APIError

        body = json.loads(encode_params(params or {}))
        try:
            return self.client.rpc(fn, body).execute().data
        except UnicodeEncodeError as exc:  # e.g. a lone surrogate, which JSON allows and UTF-8 does not
            raise error_for("22P05", f"the arguments cannot be encoded as UTF-8: {exc}", http_status=400) from exc
        except APIError as exc:
            detail = exc.details if isinstance(exc.details, str) or exc.details is None else json.dumps(exc.details)
            raise error_for(exc.code, exc.message, detail, exc.hint) from exc
        except httpx.HTTPError as exc:
            raise error_for("UNAVAILABLE", f"the API at {self.url} could not be reached: {exc}") from exc


def client_from_env(settings: Settings | None = None) -> RpcClient:
    """SUPABASE_URL plus a key (Settings.api_key: the service role's, else SUPABASE_KEY, else the
    anon key) -> SupabaseRpc; otherwise PgRpc on DATABASE_URL or the embedded database."""
    s = settings or Settings.from_env()
    if s.supabase_url and s.api_key:
        return SupabaseRpc(s.supabase_url, s.api_key)
    return PgRpc(s.database)
