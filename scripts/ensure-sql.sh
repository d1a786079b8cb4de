#!/usr/bin/env bash
# Makes sure what the SQL store's tests need is installed (Debian packages), only when missing:
# PostgreSQL's initdb and postgres (package postgresql; Debian keeps them in
# /usr/lib/postgresql/<version>/bin, where the test support also looks) and MariaDB's mariadbd
# (package mariadb-server). The tests start their own servers; nothing is configured here.
set -euo pipefail
pg_found() {
  command -v initdb >/dev/null && command -v postgres >/dev/null && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1
}
need=()
pg_found || need+=(postgresql)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]}..." >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The packages' own services are not needed (the tests start their own servers).
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
pg_found || { echo "initdb/postgres could not be installed" >&2; exit 1; }
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || { echo "mariadbd could not be installed" >&2; exit 1; }
