#!/usr/bin/env bash
# Makes sure what the benchmarks need from the system is installed (Debian packages):
# valgrind (instruction counts under callgrind) and wrk (HTTP load on loopback).
set -euo pipefail
exec "$(dirname "$0")/ensure-packages.sh" valgrind=valgrind wrk=wrk
