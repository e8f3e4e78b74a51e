#!/usr/bin/env bash
# Installs what CEROC Donations needs on Debian/Ubuntu: fonts and PDF tools from Debian,
# Python packages into .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  fonts-noto-core        # Noto Sans/Serif Khmer: letters and pages
  fonts-khmeros          # Khmer OS Muol Light: letterhead
  libharfbuzz-subset0    # makes WeasyPrint's font subsetting 5-7x faster
  libpango-1.0-0 libpangoft2-1.0-0 fontconfig  # WeasyPrint's text stack
  poppler-utils qpdf     # pdffonts/pdftotext and qpdf --check in the tests
  postgresql-client      # pg_dump/pg_restore: flask backup/restore on PostgreSQL
)
if [ "${1:-}" = "--test" ]; then
  DEBIAN_PACKAGES+=(chromium chromium-driver)  # the real-browser tests in tests/e2e
  # npm fetches axe-core for those tests; a Node.js from elsewhere (NodeSource's package
  # bundles npm and conflicts with Debian's) is used as it is.
  command -v npm >/dev/null || DEBIAN_PACKAGES+=(nodejs npm)
  DEBIAN_PACKAGES+=(postgresql)                 # the suite runs again on PostgreSQL
  DEBIAN_PACKAGES+=(caddy nginx systemd)        # tests/test_deploy.py validates deploy/
  DEBIAN_PACKAGES+=(redis-server)               # job-queue tests: started on a loopback port
fi

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "Installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,postgres]"

if [ "${1:-}" = "--test" ]; then
  # axe-core (the npm package) checks accessibility in tests/e2e; kept out of git in .cache/.
  AXE_VERSION=4.14.1
  if ! grep -qs "\"version\": \"$AXE_VERSION\"" .cache/axe/node_modules/axe-core/package.json; then
    npm install --silent --no-audit --no-fund --prefix .cache/axe "axe-core@$AXE_VERSION"
  fi
fi
