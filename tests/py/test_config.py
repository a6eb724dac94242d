"""glue.config.Settings: the environment read in one place, each default once, one on/off parser and
one key order for both transports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from glue.config import DEFAULT_PORT, Settings, on_off
from glue_tools.paths import ROOT


def test_the_defaults_of_an_empty_environment() -> None:
    s = Settings.from_env({})
    assert s.database == f"postgresql://postgres@127.0.0.1:{DEFAULT_PORT}/postgres"
    assert (s.realtime_enabled, s.telem_enabled, s.allow_reset) == (True, None, False)
    assert (s.telem_dir, s.telem_paths, s.telem_salt, s.ai_webhook_key) == (Path("logs"), (), "", "")
    assert (s.api_key, s.uses_supabase) == (None, False)


def test_database_url_wins_over_pgport() -> None:
    assert Settings.from_env({"PGPORT": "6543"}).database == "postgresql://postgres@127.0.0.1:6543/postgres"
    assert Settings.from_env({"PGPORT": "6543", "DATABASE_URL": "postgresql://x/y"}).database == "postgresql://x/y"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"SUPABASE_SERVICE_ROLE_KEY": "s", "SUPABASE_KEY": "k", "SUPABASE_ANON_KEY": "a"}, "s"),
        ({"SUPABASE_KEY": "k", "SUPABASE_ANON_KEY": "a"}, "k"),
        ({"SUPABASE_ANON_KEY": "a"}, "a"),
        ({"SUPABASE_SERVICE_ROLE_KEY": "", "SUPABASE_ANON_KEY": "a"}, "a"),
    ],
)
def test_one_key_order_for_both_transports(keys: dict[str, str], expected: str) -> None:
    s = Settings.from_env({"SUPABASE_URL": "https://project.supabase.co", **keys})
    assert s.api_key == expected
    assert s.uses_supabase


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_on(value: str) -> None:
    assert on_off("X", value, False) is True
    assert Settings.from_env({"PLANNER_ALLOW_RESET": value}).allow_reset


@pytest.mark.parametrize("value", ["0", "false", "No", "off"])
def test_off(value: str) -> None:
    assert on_off("X", value, True) is False
    assert not Settings.from_env({"RESULTS_REALTIME_ENABLED": value}).realtime_enabled


def test_unset_or_empty_is_the_default() -> None:
    assert on_off("X", None, True) is True
    assert on_off("X", "  ", False) is False
    assert on_off("X", "", None) is None


def test_a_value_that_is_neither_names_its_variable() -> None:
    with pytest.raises(ValueError, match="TELEM_ENABLED='maybe'"):
        Settings.from_env({"TELEM_ENABLED": "maybe"})


def test_telemetry_paths_and_folder() -> None:
    s = Settings.from_env({"TELEM_PATH": "/reports, /results,", "TELEM_DIR": "telemetry-out", "TELEM_SALT": "pepper"})
    assert s.telem_paths == ("/reports", " /results")
    assert (s.telem_dir, s.telem_salt) == (Path("telemetry-out"), "pepper")


def test_the_command_line_refuses_a_bad_on_off_value_before_doing_anything() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "TELEM_", "RESULTS_"))}
    done = subprocess.run(
        [sys.executable, "-m", "glue_tools", "--database-url", "postgresql://postgres@127.0.0.1:1/postgres", "health"],
        cwd=ROOT,
        env={**env, "RESULTS_REALTIME_ENABLED": "sometimes"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "RESULTS_REALTIME_ENABLED='sometimes'" in done.stderr
    assert "Traceback" not in done.stderr
