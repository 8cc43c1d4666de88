#!/usr/bin/env bash
# Installs the Debian packages CTI Server needs to build, test and run, and
# nothing else. Packages already present are left alone, and `apt-get update`
# only runs when something is missing, so a second run is a fast no-op.
# Used by scripts/run.sh, scripts/test.sh and the Dockerfile's build stage.
set -euo pipefail

# The one list of packages (Debian 12 "bookworm" names). Keep the Dockerfile's
# runtime stage in step with the runtime libraries these pull in.
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libcaf-dev libboost1.81-dev libboost-url1.81-dev libpqxx-dev
  nlohmann-json3-dev libspdlog-dev libssl-dev libcrypt-dev
  libgtest-dev libgmock-dev
  postgresql postgresql-contrib
  openssl curl ca-certificates procps
)

# With --fuzz (scripts/test.sh, after the plain run): only what the fuzzing
# run needs; test.sh carries on without fuzzing when this fails.
if [[ ${1:-} == --fuzz ]]; then
  PACKAGES=(clang libclang-rt-14-dev)
fi
# With --console (scripts/test.sh): the browser and Node.js for the operator
# console's browser test (tests/console). A Node.js already on the PATH (any
# packaging, npm included) is kept.
if [[ ${1:-} == --console ]]; then
  PACKAGES=(chromium)
  command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
  command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
fi

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

command -v dpkg-query >/dev/null 2>&1 ||
  die "dpkg-query not found: this script supports Debian 12 (bookworm) only; install by hand: ${PACKAGES[*]}"

missing=()
for pkg in "${PACKAGES[@]}"; do
  # Status is "install ok installed" only for a fully installed package;
  # dpkg-query fails for a package it has never heard of.
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  log "all ${#PACKAGES[@]} packages present"
  exit 0
fi

# Root installs directly (CI, Docker); anyone else goes through sudo.
if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  die "missing packages (${missing[*]}) and not root and no sudo; run as root: apt-get install ${missing[*]}"
fi

log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg (e.g. unattended-upgrades) instead of failing.
apt_opts=(-o DPkg::Lock::Timeout=300)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -q ||
  die "apt-get update failed"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -q \
  --no-install-recommends "${missing[@]}" </dev/null ||
  die "apt-get install failed for: ${missing[*]}"
log "done"
