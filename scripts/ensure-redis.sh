#!/usr/bin/env bash
# Makes sure redis-server and redis-cli are installed (Debian packages), for the tests.
set -euo pipefail
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  exit 0
fi
echo "installing redis-server and redis-tools..." >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
command -v redis-server >/dev/null || { echo "redis-server could not be installed" >&2; exit 1; }
