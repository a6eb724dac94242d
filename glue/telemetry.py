"""Telemetry: one JSON line per wrapped call, gated by TELEM_ENABLED and filtered by TELEM_PATH.

- TELEM_ENABLED=true (or 1, yes, on) turns it on; anything else leaves it off.
- TELEM_PATH is a comma-separated filter on route tags: case-insensitive, slashes ignored, prefix
  match ("results" matches "/results/assignments/feedback"); unset or empty means every route.
- Lines go to logs/telem_<start>.log (TELEM_DIR overrides the folder), one file per process start.
- Each line: timestamp, route, functionName, params (personal data redacted: pupil and user ids
  hashed, names, emails, answers, feedback and file names removed), durationMs, status, error, and
  timing deltas such as rpcMs, validationMs and queueLatencyMs.
- Thread-safe; a telemetry failure is logged at debug level and never breaks the call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from glue.config import Settings

log = logging.getLogger("glue.telemetry")

_HASHED = ("pupil_id", "user_id", "pupilid", "userid", "override_by", "sub")
_REDACTED = (
    "text",
    "feedback",
    "ai_feedback",
    "teacher_feedback",
    "body",
    "answer",
    "file_name",
    "path",
    "first_name",
    "last_name",
    "name",
    "email",
    "access_token",
    "key",
    "password",
)


def _norm(route: str) -> str:
    return route.replace("/", "").strip().lower()


def hash_id(value: object, salt: str | None = None) -> str:
    """A stable, non-reversible stand-in for a person's id, salted with salt (default: the process's
    telemetry's, TELEM_SALT)."""
    salt = telemetry().salt if salt is None else salt
    return "h:" + hashlib.sha256(f"{salt}{value}".encode()).hexdigest()[:16]


def _is_person_id(key: str) -> bool:
    return key in _HASHED or (key.endswith("_id") and key.startswith(("pupil", "user")))


def redact(value: Any, key: str | None = None, salt: str | None = None) -> Any:
    """Params with personal data removed: ids hashed (with salt, as hash_id), free text and names
    replaced by their length."""
    k = (key or "").lower()
    if isinstance(value, Mapping):
        return {str(kk): redact(vv, str(kk), salt) for kk, vv in value.items()}
    if isinstance(value, list | tuple):
        if k.endswith("_ids"):
            return [hash_id(v, salt) for v in value]
        return [redact(v, key, salt) for v in value]
    if value is None:
        return None
    if _is_person_id(k):
        return hash_id(value, salt)
    if k in _REDACTED:
        return f"[redacted {len(str(value))} chars]"
    if isinstance(value, bool | int | float):
        return value
    return str(value)


def person_ids(value: Any, key: str | None = None) -> set[str]:
    """The raw ids in params that `redact` hashes (to hash them in error messages too)."""
    k = (key or "").lower()
    if isinstance(value, Mapping):
        return set().union(*(person_ids(vv, str(kk)) for kk, vv in value.items()))
    if isinstance(value, list | tuple):
        if k.endswith("_ids"):
            return {str(v) for v in value if v is not None}
        return set().union(*(person_ids(v, key) for v in value))
    if value is not None and _is_person_id(k):
        return {str(value)}
    return set()


def scrub(message: str, params: Any, salt: str | None = None) -> str:
    """An error message with the people's ids of params replaced by their hashes, salted as the
    params are (the database names the pupil in messages such as 'unknown pupil <uuid>')."""
    for raw in person_ids(params):
        for form in {raw, raw.lower()}:
            message = message.replace(form, hash_id(raw, salt))
    return message


class Span:
    """The record of one call; add timing deltas with `span.set(rpcMs=...)`."""

    def __init__(self, route: str, function_name: str, params: Mapping[str, Any] | None) -> None:
        self.route = route
        self.function_name = function_name
        self.params = params or {}
        self.fields: dict[str, Any] = {}
        self.started = time.perf_counter()

    def set(self, **fields: Any) -> None:
        self.fields.update(fields)

    @contextmanager
    def timed(self, field: str) -> Iterator[None]:
        """Time a part of the call into a field such as rpcMs."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.fields[field] = round((time.perf_counter() - t0) * 1000, 3)


class Telemetry:
    """The process's telemetry sink. `telemetry()` returns the shared one configured from the environment."""

    def __init__(self, enabled: bool, paths: list[str] | None, directory: Path, salt: str = "") -> None:
        self.enabled = enabled
        self.paths = [p for p in (paths or []) if p]
        self.directory = directory
        self.salt = salt
        self.file = directory / f"telem_{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.log"
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, enabled: bool | None = None) -> Telemetry:
        """The telemetry the settings describe (TELEM_*); `enabled` overrides TELEM_ENABLED's default."""
        on = settings.telem_enabled if settings.telem_enabled is not None else bool(enabled)
        return cls(on, [_norm(p) for p in settings.telem_paths], settings.telem_dir, settings.telem_salt)

    @classmethod
    def from_env(cls) -> Telemetry:
        return cls.from_settings(Settings.from_env())

    def wants(self, route: str) -> bool:
        if not self.enabled:
            return False
        if not self.paths:
            return True
        r = _norm(route)
        return any(r.startswith(p) for p in self.paths)

    @contextmanager
    def span(self, route: str, function_name: str, params: Mapping[str, Any] | None = None) -> Iterator[Span]:
        """Record the call around the block: duration, status, and the error if it raised."""
        span = Span(route, function_name, params)
        error: BaseException | None = None
        try:
            yield span
        except BaseException as exc:
            error = exc
            raise
        finally:
            if self.wants(route):
                self._emit(span, error)

    def event(self, route: str, function_name: str, **fields: Any) -> None:
        """A line for something that is not a call (a subscription connected, a job dropped)."""
        if self.wants(route):
            span = Span(route, function_name, None)
            span.set(**fields)
            self._emit(span, None, duration=False)

    def _emit(self, span: Span, error: BaseException | None, duration: bool = True) -> None:
        try:
            record: dict[str, Any] = {
                "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "route": span.route,
                "functionName": span.function_name,
                "params": redact(span.params, salt=self.salt),
                "durationMs": round((time.perf_counter() - span.started) * 1000, 3) if duration else None,
                "status": "error" if error is not None else "ok",
                "error": None,
            }
            if error is not None:
                code = getattr(error, "sqlstate", None)
                message = scrub(str(error), span.params, self.salt)[:500]
                record["error"] = {"type": type(error).__name__, "code": code, "message": message}
            record.update(span.fields)
            line = json.dumps(record, default=str, separators=(",", ":"))
            with self._lock:
                self.directory.mkdir(parents=True, exist_ok=True)
                with self.file.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
        except Exception:  # telemetry never breaks the call
            log.debug("telemetry record dropped", exc_info=True)


_shared: Telemetry | None = None
_shared_lock = threading.Lock()


def telemetry() -> Telemetry:
    """The process-wide telemetry, read from the environment once."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Telemetry.from_env()
        return _shared


def reset() -> None:
    """Forget the shared telemetry so the next call re-reads the environment (tests, CLI)."""
    global _shared
    with _shared_lock:
        _shared = None


def configure(telem: Telemetry) -> Telemetry:
    """Make telem the process-wide telemetry (a tool that turns it on for its run); returns it."""
    global _shared
    with _shared_lock:
        _shared = telem
        return telem
