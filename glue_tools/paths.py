"""Where things are in the checkout: what the tools (and the tests) read and run."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FUNCTIONS_DIR", "LOCALDB", "MIGRATIONS_DIR", "ROOT", "SEED_SQL", "SHIM_SQL"]

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "supabase" / "migrations"
FUNCTIONS_DIR = ROOT / "supabase" / "functions_sql"
SEED_SQL = ROOT / "supabase" / "seed.sql"
SHIM_SQL = ROOT / "platform" / "shim.sql"
LOCALDB = ROOT / "scripts" / "localdb.sh"
