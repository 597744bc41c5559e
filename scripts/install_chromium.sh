#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for ptmlab's browser tests (tests/browser/).
# Idempotent and quiet: does nothing when /usr/bin/chromium exists; never runs `playwright install`
# (Playwright drives this system browser through executable_path="/usr/bin/chromium").
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing and this script is not running as root." >&2
    echo "Ask an administrator to run: apt-get install -y chromium   (browser tests skip until then)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
