#!/usr/bin/env bash
# Builds and installs Citus into the local Debian PostgreSQL from the vendored upstream source
# (../shared/vendor/citus beside the repository: Citus has no Debian package for PostgreSQL 15).
#
# Idempotent: does nothing when citus is already installed for the server's major version. The source is unpacked
# into a temporary directory and removed afterwards; nothing of it lands in the repository.
#
# Usage: scripts/install-citus.sh [--help] [PG_MAJOR]   (default: the newest server under /usr/lib/postgresql)
# Env:   CITUS_VENDOR_DIR   directory holding citus-<version>.tar.gz and the patch
#                           (default: <repo>/../shared/vendor/citus, then /work/shared/vendor/citus)
#        CITUS_VERSION      default 13.2.2
#        CITUS_FORCE=1      rebuild even when installed
#        CITUS_MAKE_JOBS    parallel make jobs (default 2)
#        CITUS_NICE         niceness of the compiler (default 10, so a build in the background yields the CPU)
set -euo pipefail

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

HERE="$(cd "$(dirname "$0")" && pwd)"
PG_MAJOR="${1:-$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)}"
VERSION="${CITUS_VERSION:-13.2.2}"
if [ -z "${PG_MAJOR}" ]; then
  echo "install-citus: no PostgreSQL server found under /usr/lib/postgresql" >&2
  exit 1
fi
LIB="/usr/lib/postgresql/${PG_MAJOR}/lib/citus.so"
CONTROL="/usr/share/postgresql/${PG_MAJOR}/extension/citus.control"
if [ -f "${LIB}" ] && [ -f "${CONTROL}" ] && [ "${CITUS_FORCE:-0}" != "1" ]; then
  echo "install-citus: citus $(sed -n "s/^default_version = '\(.*\)'/\1/p" "${CONTROL}") already installed for PostgreSQL ${PG_MAJOR}"
  exit 0
fi

VENDOR="${CITUS_VENDOR_DIR:-}"
if [ -z "${VENDOR}" ]; then
  for candidate in "${HERE}/../../shared/vendor/citus" "/work/shared/vendor/citus"; do
    if [ -f "${candidate}/citus-${VERSION}.tar.gz" ]; then VENDOR="$(cd "${candidate}" && pwd)"; break; fi
  done
fi
TARBALL="${VENDOR}/citus-${VERSION}.tar.gz"
if [ -z "${VENDOR}" ] || [ ! -f "${TARBALL}" ]; then
  echo "install-citus: citus-${VERSION}.tar.gz not found (set CITUS_VENDOR_DIR)" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
DEPS=(build-essential "postgresql-server-dev-${PG_MAJOR}" libcurl4-openssl-dev liblz4-dev libzstd-dev
  libkrb5-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev autoconf flex)
missing=()
for pkg in "${DEPS[@]}"; do dpkg -s "${pkg}" >/dev/null 2>&1 || missing+=("${pkg}"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-citus: apt-get install ${missing[*]}"
  # Waits for the dpkg lock: CI starts this build in the background while other installs may still run.
  ${SUDO} apt-get -o DPkg::Lock::Timeout=600 update -qq
  ${SUDO} apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

WORK="$(mktemp -d -t citus-build.XXXXXX)"
trap 'rm -rf "${WORK}"' EXIT
tar xzf "${TARBALL}" -C "${WORK}"
SRC="$(find "${WORK}" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
cd "${SRC}"
# Newer 15.x minor releases export have_createdb_privilege(), which Citus 13.2.2 also defines as static inline: the
# vendored patch removes Citus's copy. Applied only when the server headers declare it, so older minors still build.
INCLUDE_DIR="$("/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" --includedir-server)"
for p in "${VENDOR}"/*.patch; do
  [ -f "${p}" ] || continue
  case "$(basename "${p}")" in
    pg15-have-createdb-privilege.patch)
      if [ "${PG_MAJOR}" = "15" ] && grep -rqs 'have_createdb_privilege' "${INCLUDE_DIR}/commands/dbcommands.h"; then
        echo "install-citus: applying $(basename "${p}")"
        patch -s -p1 <"${p}"
      fi
      ;;
    *)
      echo "install-citus: applying $(basename "${p}")"
      patch -s -p1 <"${p}"
      ;;
  esac
done
echo "install-citus: building citus ${VERSION} for PostgreSQL ${PG_MAJOR} in ${SRC} (make took 2 minutes on an idle 2-core machine)"
start=$(date +%s)
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" ./configure --quiet >"${WORK}/configure.log" 2>&1 ||
  { tail -n 40 "${WORK}/configure.log" >&2; exit 1; }
nice -n "${CITUS_NICE:-10}" make -s -j"${CITUS_MAKE_JOBS:-2}" >"${WORK}/make.log" 2>&1 || { tail -n 60 "${WORK}/make.log" >&2; exit 1; }
${SUDO} make -s install >"${WORK}/install.log" 2>&1 || { tail -n 40 "${WORK}/install.log" >&2; exit 1; }
echo "install-citus: installed citus ${VERSION} for PostgreSQL ${PG_MAJOR} in $(($(date +%s) - start))s"
