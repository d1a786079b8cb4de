#!/usr/bin/env bash
# Makes sure what the tests need from the system is installed (Debian packages):
# redis-server and redis-cli (the tests start their own servers), openssl (the TLS test makes
# its certificates) and curl (CI checks the demo with it).
set -euo pipefail
exec "$(dirname "$0")/ensure-packages.sh" redis-server=redis-server redis-cli=redis-tools \
  openssl=openssl curl=curl
