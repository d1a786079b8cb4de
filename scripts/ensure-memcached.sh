#!/usr/bin/env bash
# Makes sure memcached is installed (Debian package `memcached`): the tests start their own
# servers on free loopback ports; the package's own service is not used.
set -euo pipefail
exec "$(dirname "$0")/ensure-packages.sh" memcached=memcached
