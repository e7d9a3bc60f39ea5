#!/usr/bin/env bash
# Installs Debian's chromium, the headless browser the docs-site test drives
# (tests/python/test_docs_site.py). The test launches it through Playwright's
# Python package with executable_path, so no browser is ever downloaded.
#
# Idempotent: does nothing when a chromium binary is already on the PATH.
# Needs apt-get (Debian or Ubuntu) and root, or sudo.
set -euo pipefail

for candidate in chromium chromium-browser; do
    if command -v "$candidate" >/dev/null 2>&1; then
        echo "chromium already installed: $(command -v "$candidate")"
        exit 0
    fi
done

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: apt-get not found. Install Chromium with your system's package manager" \
         "so that a 'chromium' binary is on the PATH, then rerun the tests." >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "error: installing chromium needs root, and sudo is not available." \
         "Run this script as root: apt-get install -y --no-install-recommends chromium" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium

if ! command -v chromium >/dev/null 2>&1; then
    echo "error: apt-get finished but no 'chromium' binary is on the PATH." >&2
    exit 1
fi
echo "chromium installed: $(command -v chromium)"
