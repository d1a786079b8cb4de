#!/usr/bin/env bash
# Makes sure chromium and chromedriver are installed (Debian packages `chromium` and
# `chromium-driver`), for the dashboard's headless browser test.
set -euo pipefail
exec "$(dirname "$0")/ensure-packages.sh" chromium=chromium chromedriver=chromium-driver
