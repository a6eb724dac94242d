"""A PostgREST-compatible RPC endpoint for the tests, so the real supabase-py client runs end to
end over HTTP against the real database (PostgREST itself cannot run on these machines).

What it does as PostgREST does:
- POST /rest/v1/rpc/{fn} with a JSON object of named arguments; JSON result (200).
- The JWT (Authorization: Bearer, else the apikey header) is verified (HS256, JWT_SECRET); its
  `role` claim becomes the transaction's role and the claims go to request.jwt.claims.
- Errors as PostgREST's JSON body {code, message, details, hint} with its HTTP status mapping.
The database call itself goes through one transaction per request (glue.rpc.PgRpc with the JWT's
role and claims), exactly what PostgREST runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from psycopg_pool import ConnectionPool

from glue.rpc import PgRpc, RpcError

JWT_SECRET = "planner-local-test-jwt-secret-0123456789abcdef"  # noqa: S105 - a test-only signing key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_jwt(claims: dict[str, Any], secret: str = JWT_SECRET, ttl: int = 3600) -> str:
    """An HS256 JWT as Supabase Auth issues them (role, sub, exp)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"exp": int(time.time()) + ttl, **claims}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def verify_jwt(token: str, secret: str = JWT_SECRET) -> dict[str, Any] | None:
    try:
        header, body, signature = token.split(".")
        expected = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        claims: dict[str, Any] = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError):
        return None
    if int(claims.get("exp", 0)) < time.time():
        return None
    return claims


def http_status(sqlstate: str, role: str) -> int:
    """PostgREST's mapping of SQLSTATE to HTTP status."""
    exact = {
        "42501": 401 if role == "anon" else 403,
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "P0001": 400,
        "42883": 404,
        "42P01": 404,
        "PGRST202": 404,
        "PGRST301": 401,
    }
    if sqlstate in exact:
        return exact[sqlstate]
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    prefixes = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        "54": 413,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    return prefixes.get(sqlstate[:2], 400)


class RestEndpoint:
    """Serves the RPCs of one database on 127.0.0.1:<port> in a background thread."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool = ConnectionPool(dsn, min_size=1, max_size=8, kwargs={"autocommit": True}, open=True)
        self.requests = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 65536  # headers and body leave in one write (no Nagle/delayed-ACK stall)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                endpoint.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                prefix = "/rest/v1/rpc/"
                path = self.path.split("?", 1)[0]
                if not path.startswith(prefix):
                    self._send(
                        404,
                        {
                            "code": "PGRST125",
                            "message": f"Invalid path {path}",
                            "details": None,
                            "hint": None,
                        },
                    )
                    return
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                token = token or (self.headers.get("apikey") or "")
                claims = verify_jwt(token) if token else {"role": "anon"}
                if claims is None:
                    self._send(
                        401,
                        {
                            "code": "PGRST301",
                            "message": "JWT could not be decoded or has expired",
                            "details": None,
                            "hint": None,
                        },
                    )
                    return
                role = str(claims.get("role") or "anon")
                try:
                    params = json.loads(raw or b"{}")
                except json.JSONDecodeError as exc:
                    self._send(
                        400,
                        {
                            "code": "PGRST102",
                            "message": f"Empty or invalid json: {exc}",
                            "details": None,
                            "hint": None,
                        },
                    )
                    return
                if not isinstance(params, dict):
                    self._send(
                        400,
                        {
                            "code": "PGRST102",
                            "message": "the body must be a JSON object",
                            "details": None,
                            "hint": None,
                        },
                    )
                    return
                client = PgRpc(endpoint.dsn, role=role, claims=claims, pool=endpoint.pool)
                try:
                    result = client.call(path[len(prefix) :], params)
                except RpcError as exc:
                    self._send(
                        http_status(exc.sqlstate, role),
                        {
                            "code": exc.sqlstate,
                            "message": exc.message,
                            "details": exc.detail,
                            "hint": exc.hint,
                        },
                    )
                    return
                self._send(200, result)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="rest-endpoint", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.pool.close()
