#!/usr/bin/env bash
# Makes sure what the benchmarks need from the system is installed (Debian packages):
# valgrind (instruction counts under callgrind) and wrk (HTTP load on loopback).
set -euo pipefail
need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v wrk >/dev/null || need+=(wrk)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]}..." >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
for cmd in valgrind wrk; do
  command -v "$cmd" >/dev/null || { echo "$cmd could not be installed" >&2; exit 1; }
done
