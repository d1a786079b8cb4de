#!/usr/bin/env bash
# Makes sure chromium and chromedriver are installed (Debian packages `chromium` and
# `chromium-driver`), for the dashboard's headless browser test.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
echo "installing chromium and chromium-driver..." >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
command -v chromium >/dev/null || { echo "chromium could not be installed" >&2; exit 1; }
command -v chromedriver >/dev/null || { echo "chromedriver could not be installed" >&2; exit 1; }
