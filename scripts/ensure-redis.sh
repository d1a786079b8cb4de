#!/usr/bin/env bash
# Makes sure what the tests need from the system is installed (Debian packages):
# redis-server and redis-cli (the tests start their own servers), openssl (the TLS test makes
# its certificates) and curl (CI checks the demo with it).
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]}..." >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
for cmd in redis-server redis-cli openssl curl; do
  command -v "$cmd" >/dev/null || { echo "$cmd could not be installed" >&2; exit 1; }
done
