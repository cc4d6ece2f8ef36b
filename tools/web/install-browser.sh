#!/usr/bin/env bash
# The web viewer's browser tests (tests/web/test_browser.py) drive Debian's headless Chromium through
# its chromedriver. Installs the packages chromium and chromium-driver when either is missing; does
# nothing (and needs no network) when both are there. .ci/run runs it; so can anyone, as root.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "browser tests: install the Debian packages chromium and chromium-driver first" >&2
    exit 1
fi
echo "browser tests: installing chromium and chromium-driver (Debian)"
apt-get update -qq -o Acquire::Retries=3
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o Acquire::Retries=3 \
    chromium chromium-driver >/dev/null
