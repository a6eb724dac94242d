#!/usr/bin/env bash
# Install what the project needs from the system: PostgreSQL 15 with pgTAP, pg_cron and
# plpgsql_check, pg_prove, Python 3.11+ with venv, and Node.js with npm (for the pinned Supabase CLI,
# which `make setup` then installs with npm ci). Installs only what is missing (so a second
# run does nothing); on Debian/Ubuntu with apt, as root or through sudo; elsewhere it prints what to
# install and stops.
set -euo pipefail

packages=(
  postgresql-15 postgresql-contrib postgresql-15-pgtap postgresql-15-cron postgresql-15-plpgsql-check
  libtap-parser-sourcehandler-pgtap-perl make git
)
python=${PYTHON:-python3}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
  done
  if ! command -v "$python" >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
  elif ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
  fi
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
else
  cat >&2 <<MSG
setup: this is not a Debian/Ubuntu system, so nothing was installed. Install:
  - PostgreSQL 15 server and contrib, with the extensions pgTAP, pg_cron and plpgsql_check
    (PGBIN must point at its bin directory if it is not /usr/lib/postgresql/15/bin)
  - pg_prove (Perl TAP::Parser::SourceHandler::pgTAP)
  - Python 3.11 or newer with venv, GNU make and git
  - Node.js 18 or newer with npm (make setup runs npm ci for the pinned Supabase CLI)
then run 'make setup' again to build .venv.
MSG
  exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [ "$(id -u)" = 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "setup: not root and no sudo: as root run: apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's postgresql package starts a system cluster on 5432; the project uses its own (.pg/).
echo "setup: system packages installed"
