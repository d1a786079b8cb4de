#!/usr/bin/env bash
# Installs the Debian packages that provide missing commands, then checks every command is
# there. Each argument is COMMAND=PACKAGE, for example `redis-cli=redis-tools`.
#
#   scripts/ensure-packages.sh redis-server=redis-server wrk=wrk
set -euo pipefail
need=()
for pair in "$@"; do
  command -v "${pair%%=*}" >/dev/null || need+=("${pair#*=}")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]}..." >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
for pair in "$@"; do
  command -v "${pair%%=*}" >/dev/null || { echo "${pair%%=*} could not be installed" >&2; exit 1; }
done
