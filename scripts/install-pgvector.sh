#!/usr/bin/env bash
# Installs pgvector into a local Debian PostgreSQL from Debian's own `pgvector` source package.
#
# Debian bookworm ships no pgvector binary for PostgreSQL 15, but trixie's source package (0.8.x) builds against
# postgresql-server-dev-15 in seconds. The deb-src entry lives in its own sources file so the machine's binary
# sources are never switched to trixie. Idempotent: if the extension is already available it does nothing.
#
# Usage: sudo scripts/install-pgvector.sh [PG_MAJOR]     (default: the newest installed server under /usr/lib/postgresql)
# Env:   PGVECTOR_SUITE (default trixie), PGVECTOR_FORCE=1 to rebuild even when installed.
set -euo pipefail

PG_MAJOR="${1:-$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)}"
SUITE="${PGVECTOR_SUITE:-trixie}"
if [ -z "${PG_MAJOR}" ]; then
  echo "install-pgvector: no PostgreSQL server found under /usr/lib/postgresql" >&2
  exit 1
fi
EXT_DIR="/usr/share/postgresql/${PG_MAJOR}/extension"
LIB="/usr/lib/postgresql/${PG_MAJOR}/lib/vector.so"

if [ -f "${EXT_DIR}/vector.control" ] && [ -f "${LIB}" ] && [ "${PGVECTOR_FORCE:-0}" != "1" ]; then
  echo "install-pgvector: pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "${EXT_DIR}/vector.control") already installed for PostgreSQL ${PG_MAJOR}"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

SRC_LIST="/etc/apt/sources.list.d/pgvector-src.sources"
if [ ! -f "${SRC_LIST}" ]; then
  echo "install-pgvector: adding deb-src entry for ${SUITE} in ${SRC_LIST}"
  ${SUDO} tee "${SRC_LIST}" >/dev/null <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: ${SUITE}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
# Only refresh the lists when the source index is missing, to keep reruns fast.
if ! apt-cache showsrc pgvector 2>/dev/null | grep -q '^Package: pgvector'; then
  ${SUDO} apt-get update -qq
fi
${SUDO} apt-get install -y -qq --no-install-recommends "postgresql-server-dev-${PG_MAJOR}" build-essential dpkg-dev >/dev/null

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
cd "${WORK}"
# apt-get source runs as the invoking user; a root build is fine for a local install (no dpkg-buildpackage needed).
apt-get source -qq --only-source pgvector >/dev/null 2>&1 || apt-get source --only-source pgvector
SRC_DIR="$(find . -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)"
if [ -z "${SRC_DIR}" ]; then
  echo "install-pgvector: apt-get source pgvector produced no source tree" >&2
  exit 1
fi
cd "${SRC_DIR}"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
# OPTFLAGS="" avoids -march=native so the build is portable between machines of this kind.
make -s PG_CONFIG="${PG_CONFIG}" OPTFLAGS="" >/dev/null
${SUDO} make -s PG_CONFIG="${PG_CONFIG}" install >/dev/null
echo "install-pgvector: installed pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "${EXT_DIR}/vector.control") for PostgreSQL ${PG_MAJOR}"
