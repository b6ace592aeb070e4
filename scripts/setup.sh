#!/usr/bin/env bash
# Prepares a Debian 12 machine for Kadi. Idempotent: run it as often as you like.
#
#   1. Debian packages (apt-get update + install, only when something is missing,
#      checked with dpkg-query; sudo is used when not root);
#   2. npm dependencies (`npm ci`, skipped when node_modules already matches
#      package-lock.json; --force-npm always runs it, --no-npm never does);
#   3. build/libtcpnodelay.so, the TCP_NODELAY shim for pcscd (scripts/tcp_nodelay.c).
#
# Usage: scripts/setup.sh [--no-npm] [--force-npm] [--check]
#   --check   change nothing; exit 0 when everything is in place, 1 otherwise
#
# Kadi never uses the system-wide redis/postgres/pcscd: scripts/services.sh runs private
# instances under $KADI_HOME. So package installation must not leave system daemons
# running on Kadi's default ports (6379, 5432, vpcd 35963): daemon start-up is blocked
# during the install (policy-rc.d) and any system daemon that was not running before is
# stopped afterwards. Daemons that were already running are left alone (with a warning).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NPM=auto
CHECK=0
for arg in "$@"; do
  case "$arg" in
    --no-npm) NPM=never ;;
    --force-npm) NPM=always ;;
    --check) CHECK=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$arg' (--no-npm, --force-npm, --check)" ;;
  esac
done

# Debian packages. "postgresql-15|postgresql" = either one satisfies the requirement;
# postgresql-15 is installed when the archive has it, else the distribution default.
PACKAGES=(
  redis-server            # BullMQ queues
  "postgresql-15|postgresql"
  softhsm2                # PKCS#11 HSM for development and tests
  opensc                  # pkcs11-tool, opensc-tool
  pcscd libpcsclite-dev   # PC/SC daemon; headers for the npm pcsclite binding
  pcsc-tools              # pcsc_scan (services.sh lists readers with it)
  vsmartcard-vpcd         # virtual reader driver (TCP) for pcscd
  vsmartcard-vpicc        # vicc: an independent virtual ISO 7816 card (Python)
  fonts-ocr-b             # OCR-B for the MRZ on the card face
  zbar-tools poppler-utils dmtx-utils # barcode, Data Matrix and PDF checks in tests
  openssl                 # oracle in tests; PIN generation
  build-essential         # native npm modules; the TCP_NODELAY shim
  python3 util-linux      # socket hand-over for pcscd; flock, runuser, unshare
  chromium fonts-liberation # web console tests (playwright-core); fonts for its pages
)

installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" == ii* ]]
}

# missing_packages: prints the requirements (one per line) that are not installed.
missing_packages() {
  local req alt ok
  local -a alts
  for req in "${PACKAGES[@]}"; do
    ok=0
    IFS='|' read -r -a alts <<<"$req"
    for alt in "${alts[@]}"; do
      if installed "$alt"; then ok=1; break; fi
    done
    ((ok)) || printf '%s\n' "$req"
  done
}

# The system daemons that could collide with Kadi's defaults, by their Debian PID files
# (our own instances use other PID files; a pcscd counts only with the system socket,
# which our pcscd never creates).
system_daemons_running() {
  local pid f
  if pid="$(read_pid /run/redis/redis-server.pid)" && pid_alive "$pid"; then echo redis-server; fi
  for f in /run/postgresql/*.pid; do
    if pid="$(read_pid "$f")" && pid_alive "$pid"; then echo postgresql; break; fi
  done
  if [[ -S /run/pcscd/pcscd.comm ]] && pid="$(read_pid /run/pcscd/pcscd.pid)" && pid_alive "$pid" pcscd; then echo pcscd; fi
  return 0
}

stop_system_daemon() {
  local name="$1" pid f
  log "stopping the system $name started by the package installation (Kadi runs its own)"
  if [[ -d /run/systemd/system ]]; then
    case "$name" in
      pcscd) as_root systemctl stop pcscd.socket pcscd.service || true ;;
      *) as_root systemctl stop "$name" || true ;;
    esac
  elif command -v service >/dev/null 2>&1; then
    as_root service "$name" stop >/dev/null 2>&1 || true
  fi
  # Whatever survived: by PID file.
  case "$name" in
    redis-server) pid="$(read_pid /run/redis/redis-server.pid)" && as_root kill -TERM "$pid" 2>/dev/null || true ;;
    postgresql)
      for f in /run/postgresql/*.pid; do
        pid="$(read_pid "$f")" && as_root kill -INT "$pid" 2>/dev/null || true
      done
      ;;
    pcscd) pid="$(read_pid /run/pcscd/pcscd.pid)" && as_root kill -TERM "$pid" 2>/dev/null || true ;;
  esac
}

install_packages() {
  local -a missing=() install=()
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    log "Debian packages: all present"
    return 0
  fi
  if ((CHECK)); then
    log "Debian packages missing: ${missing[*]}"
    return 1
  fi
  command -v apt-get >/dev/null || die "apt-get not found: install by hand: ${missing[*]}"
  is_root || command -v sudo >/dev/null || die "not root and sudo not found: install by hand: ${missing[*]}"

  log "apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q

  local req alt
  for req in "${missing[@]}"; do
    if [[ "$req" == *'|'* ]]; then
      # First alternative the archive can install.
      for alt in ${req//|/ }; do
        if [[ -n "$(apt-cache policy "$alt" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)' || true)" ]]; then
          install+=("$alt")
          continue 2
        fi
      done
      die "none of ${req//|/, } is available from apt"
    fi
    install+=("$req")
  done

  local -a before=()
  mapfile -t before < <(system_daemons_running)
  ((${#before[@]} == 0)) || warn "system daemons already running (left alone; mind the port clash with Kadi's defaults): ${before[*]}"

  # Block daemon start-up in package scripts while installing (invoke-rc.d and
  # deb-systemd-invoke consult policy-rc.d; 101 = "action forbidden"). An existing
  # policy-rc.d (e.g. Docker's) is kept.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e "$policy" ]]; then
    as_root sh -c "printf '#!/bin/sh\n# temporary, from kadi scripts/setup.sh\nexit 101\n' > $policy && chmod 755 $policy"
    added_policy=1
  fi
  log "apt-get install ${install[*]}"
  local rc=0
  # No "Recommends": chromium alone would pull in avahi, cups helpers, upower, ...
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${install[@]}" || rc=$?
  if ((added_policy)); then as_root rm -f "$policy"; fi
  ((rc == 0)) || die "apt-get install failed (exit $rc)"

  # Safety net: stop any system daemon that came up during the install.
  local d
  while IFS= read -r d; do
    [[ -n "$d" ]] || continue
    if [[ " ${before[*]} " != *" $d "* ]]; then stop_system_daemon "$d"; fi
  done < <(system_daemons_running)

  missing=()
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) || die "still missing after apt-get install: ${missing[*]}"
  log "Debian packages: installed ${install[*]}"
}

# node_modules matches package-lock.json when npm's own record of the installed tree
# (node_modules/.package-lock.json) has every locked package at the locked version.
node_modules_current() {
  [[ -f "$KADI_ROOT/node_modules/.package-lock.json" ]] || return 1
  command -v node >/dev/null || return 1
  (cd "$KADI_ROOT" && node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages ?? {};
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages ?? {};
    for (const [path, p] of Object.entries(want)) {
      if (!path || (p.optional && !have[path])) continue;   // root; optional for another platform
      if (!have[path] || have[path].version !== p.version) process.exit(1);
    }')
}

install_npm() {
  if [[ "$NPM" == never ]]; then log "npm: skipped (--no-npm)"; return 0; fi
  if [[ "$NPM" == auto ]] && node_modules_current; then
    log "npm: node_modules matches package-lock.json (--force-npm to reinstall)"
    return 0
  fi
  if ((CHECK)); then log "npm: node_modules missing or out of date"; return 1; fi
  command -v npm >/dev/null || die "npm not found: install Node.js 20 (>= 20.19)"
  log "npm ci"
  (cd "$KADI_ROOT" && npm ci)
}

check_node() {
  local v
  command -v node >/dev/null || { warn "node not found: install Node.js 20 (>= 20.19)"; return 0; }
  v="$(node -p 'process.versions.node')"
  [[ "$(printf '%s\n' 20.19.0 "$v" | sort -V | head -n1)" == 20.19.0 ]] || warn "Node.js $v is older than 20.19"
}

main() {
  local rc=0
  check_node
  install_packages || rc=1
  install_npm || rc=1
  if ((CHECK)); then
    if [[ ! -f "$KADI_SHIM_LIB" || "$KADI_SHIM_SRC" -nt "$KADI_SHIM_LIB" ]]; then
      log "shim: $KADI_SHIM_LIB missing or older than its source"
      rc=1
    fi
    ((rc == 0)) && log "check: everything in place"
    return "$rc"
  fi
  build_shim
  log "shim: $KADI_SHIM_LIB ready"
  log "done; start the services with: scripts/services.sh start"
}

main
