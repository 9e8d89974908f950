#!/usr/bin/env bash
# Installs Debian's Chromium at /usr/bin/chromium for the HTML report's browser
# test (report/test/html-chromium.test.ts). .ci/run calls it before npm test.
# Idempotent: does nothing when it is already there.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "install-chromium: $CHROMIUM is missing and this is not root." >&2
  echo "Install it with:  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium

if [[ ! -x "$CHROMIUM" ]]; then
  echo "install-chromium: apt-get finished but $CHROMIUM is still missing." >&2
  exit 1
fi
