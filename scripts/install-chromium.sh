#!/usr/bin/env bash
# Installs Debian's `chromium` package for the playground's browser test (test/playground.browser.test.ts), which
# drives it headless through playwright-core. Idempotent: does nothing when a chromium binary is already there.
# Waits for the dpkg lock (another apt run) instead of failing. --no-install-recommends keeps it to the browser and
# its libraries (~20 s on a fresh machine); fonts-liberation gives the screenshot readable text.
#
# Usage: sudo scripts/install-chromium.sh        Env: CHROMIUM_PATH (a binary to use instead; checked, not installed)
set -euo pipefail

for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "${candidate}" ] && [ -x "${candidate}" ]; then
    echo "install-chromium: ${candidate} already installed ($("${candidate}" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
  fi
done

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  ${SUDO} apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends chromium fonts-liberation
}
# `apt-get update` only when the package lists do not know chromium or are too stale to fetch it (saves ~10 s).
if ! apt-cache show chromium >/dev/null 2>&1 || ! apt_install; then
  ${SUDO} apt-get -o DPkg::Lock::Timeout=300 update -q
  apt_install
fi
echo "install-chromium: installed $(/usr/bin/chromium --version 2>/dev/null)"
