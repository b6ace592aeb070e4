#!/usr/bin/env bash
# Starts, stops and reports Kadi's local services, each one a private instance under
# $KADI_HOME on loopback only (never the system-wide daemons):
#
#   redis     Redis for the BullMQ queues            127.0.0.1:$KADI_REDIS_PORT
#   postgres  PostgreSQL (optional)                  127.0.0.1:$KADI_PG_PORT, database "kadi"
#   pcscd     pcscd + vsmartcard vpcd readers        Unix socket $KADI_PCSC_DIR/pcscd.comm,
#                                                    vpcd on 127.0.0.1:$KADI_VPCD_BASE_PORT+
#   softhsm   SoftHSM2 token (a library, no daemon)  $KADI_HOME/softhsm/softhsm2.conf
#
# Usage: scripts/services.sh start|stop|restart|status|env [redis|postgres|pcscd|softhsm|all]...
#   start    idempotent: a running service is reported and left alone
#   stop     by PID (SIGTERM, wait, SIGKILL); stopping a stopped service is fine
#   status   one line per service on stdout; exit 1 if a requested service is down
#   env      prints `export` lines for the running services (eval "$(scripts/services.sh env)")
# `all` (the default) = redis pcscd softhsm, plus postgres when KADI_WITH_POSTGRES=1.
# `stop all` also stops postgres if it is running under this KADI_HOME.
#
# Environment (defaults):
#   KADI_HOME=./var (repo root)   KADI_REDIS_PORT=6379   KADI_PG_PORT=5432   KADI_PG_DB=kadi
#   KADI_WITH_POSTGRES=0          KADI_PG_FAST=0 (1: fsync/synchronous_commit off, for tests)
#   KADI_PG_MAX_CONNECTIONS=100   KADI_PG_BIN=(newest /usr/lib/postgresql/*/bin)
#   KADI_READERS=4 (1-8)          KADI_VPCD_BASE_PORT=35963   KADI_PCSC_DIR=$KADI_HOME/pcsc
#   KADI_PCSCD_DEBUG=0 (1: pcscd -d -a, logs every APDU to the log file)
#   KADI_PCSCD_SHIM=1 (0: no TCP_NODELAY shim; only to measure the baseline)
#   KADI_HSM_TOKEN=kadi           KADI_HSM_PIN / KADI_HSM_SO_PIN (else generated once into
#                                 $KADI_HOME/secrets/hsm-pin and hsm-so-pin, mode 600)
# See docs/services.md.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# --- configuration --------------------------------------------------------------------

KADI_HOME="$(abs_path "${KADI_HOME:-$KADI_ROOT/var}")"
REDIS_PORT="${KADI_REDIS_PORT:-6379}"
PG_PORT="${KADI_PG_PORT:-5432}"
PG_DB="${KADI_PG_DB:-kadi}"
WITH_PG="${KADI_WITH_POSTGRES:-0}"
READERS="${KADI_READERS:-4}"
VPCD_BASE_PORT="${KADI_VPCD_BASE_PORT:-35963}"
PCSC_DIR="$(abs_path "${KADI_PCSC_DIR:-$KADI_HOME/pcsc}")"
HSM_TOKEN="${KADI_HSM_TOKEN:-kadi}"
HSM_MODULE="${KADI_HSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
VPCD_DRIVER="${KADI_VPCD_DRIVER:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}"
MAX_READERS=8 # pcscd handles at most 16 reader slots; vpcd gives 2 per reader

valid_port "$REDIS_PORT" || die "KADI_REDIS_PORT must be a TCP port, got '$REDIS_PORT'"
valid_port "$PG_PORT" || die "KADI_PG_PORT must be a TCP port, got '$PG_PORT'"
[[ "$READERS" =~ ^[0-9]+$ ]] && ((READERS >= 1 && READERS <= MAX_READERS)) ||
  die "KADI_READERS must be 1..$MAX_READERS (pcscd takes at most 16 slots, vpcd uses 2 per reader), got '$READERS'"
valid_port "$VPCD_BASE_PORT" && ((VPCD_BASE_PORT + 2 * MAX_READERS - 1 <= 65535)) ||
  die "KADI_VPCD_BASE_PORT must leave room for $((2 * MAX_READERS)) ports, got '$VPCD_BASE_PORT'"
[[ "$PG_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "KADI_PG_DB must be a plain lower-case identifier, got '$PG_DB'"

# Paths (all under KADI_HOME, except the pcsc directory which may be moved).
REDIS_DIR="$KADI_HOME/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_PORTFILE="$REDIS_DIR/port"
REDIS_LOG="$REDIS_DIR/redis.log"

PG_BASE="$KADI_HOME/postgres"
PG_DATA="$PG_BASE/data"
PG_RUN="$PG_BASE/run" # Unix socket directory
PG_LOG="$PG_BASE/postgres.log"
PG_PORTFILE="$PG_BASE/port"

PCSC_CONF_DIR="$PCSC_DIR/reader.conf.d"
PCSC_DRIVER_DIR="$PCSC_DIR/drivers"
PCSC_SOCKET="$PCSC_DIR/pcscd.comm"
PCSC_PIDFILE="$PCSC_DIR/pcscd.pid"
PCSC_LOG="$PCSC_DIR/pcscd.log"
PCSC_ENVFILE="$PCSC_DIR/env"
PCSC_READERS_FILE="$PCSC_DIR/readers"
PCSC_PRIVATE_RUN="$PCSC_DIR/private-run"

HSM_DIR="$KADI_HOME/softhsm"
HSM_CONF="$HSM_DIR/softhsm2.conf"
HSM_TOKENS="$HSM_DIR/tokens"
SECRETS_DIR="$KADI_HOME/secrets"
HSM_PIN_FILE="$SECRETS_DIR/hsm-pin"
HSM_SO_PIN_FILE="$SECRETS_DIR/hsm-so-pin"

# --- redis ----------------------------------------------------------------------------

redis_pid() {
  local pid
  pid="$(read_pid "$REDIS_PIDFILE")" && pid_alive "$pid" redis-server && printf '%s\n' "$pid"
}

redis_ping() {
  [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
}

start_redis() {
  local pid port
  if pid="$(redis_pid)"; then
    port="$(cat "$REDIS_PORTFILE" 2>/dev/null || echo "$REDIS_PORT")"
    [[ "$port" == "$REDIS_PORT" ]] || warn "redis already runs on port $port; KADI_REDIS_PORT=$REDIS_PORT ignored (stop it first)"
    echo "redis: already running (pid $pid) redis://127.0.0.1:$port"
    return 0
  fi
  command -v redis-server >/dev/null || die "redis-server not found (run scripts/setup.sh)"
  tcp_port_open "$REDIS_PORT" && die "redis: 127.0.0.1:$REDIS_PORT is already in use by another process (set KADI_REDIS_PORT)"
  mkdir -p "$REDIS_DIR"
  rm -f "$REDIS_PIDFILE"
  # Throw-away queue store: no RDB snapshots, no AOF; noeviction as BullMQ requires.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" \
    --save '' --appendonly no --daemonize yes --pidfile "$REDIS_PIDFILE" \
    --logfile "$REDIS_LOG" --maxmemory-policy noeviction \
    </dev/null >>"$REDIS_LOG" 2>&1 9>&- ||
    die "redis-server failed to start; see $REDIS_LOG"
  if ! wait_for 20 "redis ping" redis_ping "$REDIS_PORT" || ! wait_for 5 "redis pid file" redis_pid; then
    tail -n 20 "$REDIS_LOG" >&2 || true
    die "redis did not answer PING on 127.0.0.1:$REDIS_PORT"
  fi
  echo "$REDIS_PORT" >"$REDIS_PORTFILE"
  echo "redis: started (pid $(redis_pid)) redis://127.0.0.1:$REDIS_PORT"
}

stop_redis() {
  local pid
  if pid="$(redis_pid)"; then
    stop_pid redis "$pid" 10 TERM
    echo "redis: stopped (pid $pid)"
  else
    echo "redis: not running"
  fi
  rm -f "$REDIS_PIDFILE" "$REDIS_PORTFILE"
}

status_redis() {
  local pid port
  if pid="$(redis_pid)"; then
    port="$(cat "$REDIS_PORTFILE" 2>/dev/null || echo "$REDIS_PORT")"
    if redis_ping "$port"; then
      echo "redis: running pid=$pid url=redis://127.0.0.1:$port dir=$REDIS_DIR"
      return 0
    fi
    echo "redis: not answering pid=$pid port=$port log=$REDIS_LOG"
    return 1
  fi
  echo "redis: stopped"
  return 1
}

# --- postgres -------------------------------------------------------------------------

pg_pid() {
  local pid
  pid="$(read_pid "$PG_DATA/postmaster.pid" 2>/dev/null)" && pid_alive "$pid" postgres && printf '%s\n' "$pid"
}

pg_port() { cat "$PG_PORTFILE" 2>/dev/null || echo "$PG_PORT"; }
pg_url() { echo "postgres://postgres@127.0.0.1:$1/$PG_DB"; }

# psql as the superuser over TCP (trust auth on 127.0.0.1), no ~/.psqlrc.
pg_sql() {
  local bindir="$1" port="$2"
  shift 2
  "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres -tA "$@"
}

# The OS user postgres must be able to reach $PG_BASE when we run as root: our home
# directory may be a 0700 temp directory, so make it traversable (not readable).
pg_make_reachable() {
  is_root || return 0
  id postgres >/dev/null 2>&1 || die "postgres: OS user 'postgres' does not exist (install postgresql-15)"
  chown postgres:postgres "$PG_BASE" "$PG_RUN"
  if ! runuser -u postgres -- test -x "$PG_BASE"; then
    chmod o+x "$KADI_HOME"
    runuser -u postgres -- test -x "$PG_BASE" ||
      die "postgres: user postgres cannot traverse the parents of $PG_BASE; make them traversable (chmod o+x) or choose another KADI_HOME"
  fi
}

pg_initdb() {
  local bindir="$1"
  mkdir -p "$PG_DATA"
  if is_root; then chown postgres:postgres "$PG_DATA"; fi
  chmod 700 "$PG_DATA"
  log "postgres: initdb $PG_DATA"
  # Superuser "postgres", trust authentication (loopback only, see pg_hba.conf below).
  as_postgres "$bindir/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --no-locale \
    >"$PG_BASE/initdb.log" 2>&1 9>&- || { tail -n 20 "$PG_BASE/initdb.log" >&2; die "initdb failed; see $PG_BASE/initdb.log"; }
  # Only the Unix socket (inside $PG_RUN) and 127.0.0.1; no IPv6, no other hosts.
  cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# Kadi development/test cluster: loopback only, trust (no passwords). Not for production.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF
  printf "\n# Kadi settings, rewritten by scripts/services.sh on every start\ninclude_if_exists = 'kadi.conf'\n" \
    >>"$PG_DATA/postgresql.conf"
  if is_root; then chown postgres:postgres "$PG_DATA/pg_hba.conf" "$PG_DATA/postgresql.conf"; fi
}

pg_write_settings() {
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PG_PORT"
    echo "unix_socket_directories = '$PG_RUN'"
    echo "max_connections = ${KADI_PG_MAX_CONNECTIONS:-100}"
    if [[ "${KADI_PG_FAST:-0}" == 1 ]]; then
      # Throw-away test clusters: durability off (a crash loses the cluster, which is fine).
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } >"$PG_DATA/kadi.conf"
  if is_root; then chown postgres:postgres "$PG_DATA/kadi.conf"; fi
}

pg_ensure_database() {
  local bindir="$1" port="$2"
  # Role "kadi" owns database "$PG_DB"; the URL we print uses the superuser so tests can
  # create and drop their own databases.
  if [[ -z "$(pg_sql "$bindir" "$port" -c "SELECT 1 FROM pg_roles WHERE rolname = 'kadi'")" ]]; then
    pg_sql "$bindir" "$port" -c "CREATE ROLE kadi LOGIN"
  fi
  if [[ -z "$(pg_sql "$bindir" "$port" -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" ]]; then
    pg_sql "$bindir" "$port" -c "CREATE DATABASE $PG_DB OWNER kadi"
  fi
}

# A server killed hard (kill -9) leaves postmaster.pid behind. PostgreSQL cleans that up
# itself once the old PID no longer exists (and it checks that no orphaned backend still
# uses the old shared memory), so wait for the kernel to reap it: a zombie still counts
# as "existing" for postgres. A PID reused by an unrelated program gets the lock files
# removed instead.
pg_clear_stale_lock() {
  local old comm
  old="$(read_pid "$PG_DATA/postmaster.pid" 2>/dev/null)" || return 0
  wait_for 15 "old postmaster $old to disappear" pid_gone "$old" && return 0
  comm="$(cat "/proc/$old/comm" 2>/dev/null || true)"
  if [[ "$comm" != postgres ]]; then
    rm -f "$PG_DATA/postmaster.pid" "$PG_RUN"/.s.PGSQL.*.lock
    return 0
  fi
  die "postgres: an old server process ($old) is still present; cannot start over it"
}

start_postgres() {
  local bindir pid port
  bindir="$(pg_bindir)" || die "postgres: server binaries not found (install postgresql-15 or set KADI_PG_BIN)"
  if pid="$(pg_pid)"; then
    port="$(pg_port)"
    [[ "$port" == "$PG_PORT" ]] || warn "postgres already runs on port $port; KADI_PG_PORT=$PG_PORT ignored (stop it first)"
    pg_ensure_database "$bindir" "$port"
    echo "postgres: already running (pid $pid) $(pg_url "$port")"
    return 0
  fi
  tcp_port_open "$PG_PORT" && die "postgres: 127.0.0.1:$PG_PORT is already in use by another process (set KADI_PG_PORT)"
  local sock="$PG_RUN/.s.PGSQL.$PG_PORT"
  ((${#sock} <= 107)) || die "postgres: Unix socket path too long (${#sock} > 107 bytes): $sock (choose a shorter KADI_HOME)"
  mkdir -p "$PG_BASE" "$PG_RUN"
  pg_make_reachable
  [[ -f "$PG_DATA/PG_VERSION" ]] || pg_initdb "$bindir"
  pg_write_settings
  pg_clear_stale_lock
  touch "$PG_LOG"
  if is_root; then chown postgres:postgres "$PG_LOG"; fi
  as_postgres "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -s start </dev/null 9>&- ||
    { tail -n 20 "$PG_LOG" >&2 || true; die "postgres failed to start; see $PG_LOG"; }
  wait_for 30 "pg_isready" "$bindir/pg_isready" -q -U postgres -d postgres -h 127.0.0.1 -p "$PG_PORT" ||
    die "postgres is not accepting connections on 127.0.0.1:$PG_PORT; see $PG_LOG"
  echo "$PG_PORT" >"$PG_PORTFILE"
  pg_ensure_database "$bindir" "$PG_PORT"
  echo "postgres: started (pid $(pg_pid)) $(pg_url "$PG_PORT")"
}

stop_postgres() {
  local pid
  if pid="$(pg_pid)"; then
    # SIGINT = "fast" shutdown (disconnects clients; SIGTERM would wait for them),
    # then SIGQUIT = "immediate" shutdown, then SIGKILL.
    stop_pid postgres "$pid" 30 INT QUIT
    echo "postgres: stopped (pid $pid)"
  else
    echo "postgres: not running"
  fi
  rm -f "$PG_PORTFILE"
}

status_postgres() {
  local bindir pid port
  if ! bindir="$(pg_bindir)"; then
    echo "postgres: not installed"
    return 1
  fi
  if pid="$(pg_pid)"; then
    port="$(pg_port)"
    if "$bindir/pg_isready" -q -U postgres -d postgres -h 127.0.0.1 -p "$port"; then
      echo "postgres: running pid=$pid url=$(pg_url "$port") data=$PG_DATA"
      return 0
    fi
    echo "postgres: not accepting connections pid=$pid port=$port log=$PG_LOG"
    return 1
  fi
  echo "postgres: stopped"
  return 1
}

# --- pcscd + vpcd ---------------------------------------------------------------------

pcscd_pid() {
  local pid
  pid="$(read_pid "$PCSC_PIDFILE")" && pid_alive "$pid" pcscd && printf '%s\n' "$pid"
}

# Reader (slot) names as PC/SC clients see them, one per line, from our own socket.
pcsc_reader_names() {
  [[ -S "$PCSC_SOCKET" ]] || return 1
  PCSCLITE_CSOCK_NAME="$PCSC_SOCKET" timeout 10 pcsc_scan -r 2>/dev/null </dev/null | sed -n 's/^[0-9]\{1,\}: //p'
}

# pcsc_has_slots N: true when the daemon lists exactly N "Kadi Encoder" slots.
pcsc_has_slots() {
  local n
  n="$(pcsc_reader_names | grep -c '^Kadi Encoder ' || true)"
  [[ "$n" == "$1" ]]
}

# Our pcscd's private /run/pcscd: pcscd 1.9.9 writes (and on exit deletes)
# /run/pcscd/pcscd.pid even when socket-activated. As root, and when the kernel lets us,
# the daemon gets a private mount namespace where $PCSC_PRIVATE_RUN is mounted on
# /run/pcscd, so a system pcscd's PID file is never touched. Elsewhere it is skipped
# (harmless to other socket-activated instances, which never read that file).
pcsc_private_run_possible() {
  [[ "${KADI_PCSCD_PRIVATE_RUN:-1}" == 1 ]] && is_root && command -v unshare >/dev/null &&
    mkdir -p /run/pcscd 2>/dev/null && unshare --mount --propagation private true 2>/dev/null
}

pcsc_write_reader_conf() {
  local i port driver
  # Each reader needs its own copy of the driver: pcscd loads a library path once and
  # vpcd keeps its per-slot state in globals, so two readers on one copy would share
  # (and clobber) slots 0 and 1.
  driver="$(readlink -f "$VPCD_DRIVER")"
  [[ -r "$driver" ]] || die "pcscd: vpcd driver $VPCD_DRIVER not found (install vsmartcard-vpcd)"
  rm -rf "$PCSC_CONF_DIR"
  mkdir -p "$PCSC_CONF_DIR" "$PCSC_DRIVER_DIR"
  for ((i = 0; i < READERS; i++)); do
    port=$((VPCD_BASE_PORT + 2 * i))
    if ! cmp -s "$driver" "$PCSC_DRIVER_DIR/libifdvpcd-$i.so"; then
      cp -f "$driver" "$PCSC_DRIVER_DIR/libifdvpcd-$i.so"
    fi
    # pcsc-lite 1.9.9 calls IFDHCreateChannelByName(DEVICENAME) when DEVICENAME is set
    # (IFD handler v3, as vpcd is) and ignores CHANNELID then; vpcd takes the port after
    # the colon ("/dev/null" = listen as a server). CHANNELID repeats it for clarity.
    # Slot 0 listens on PORT, slot 1 on PORT+1.
    printf 'FRIENDLYNAME "Kadi Encoder %d"\nDEVICENAME /dev/null:0x%X\nLIBPATH %s\nCHANNELID 0x%X\n' \
      "$i" "$port" "$PCSC_DRIVER_DIR/libifdvpcd-$i.so" "$port" >"$PCSC_CONF_DIR/kadi-encoder-$i"
  done
}

pcsc_write_env() {
  local tmp="$PCSC_ENVFILE.tmp.$$" name i j
  {
    echo "# Written by scripts/services.sh; source it or read KEY=VALUE lines."
    echo "PCSCLITE_CSOCK_NAME=$PCSC_SOCKET"
    echo "KADI_VPCD_HOST=127.0.0.1"
    echo "KADI_VPCD_BASE_PORT=$VPCD_BASE_PORT"
    echo "KADI_READERS=$READERS"
  } >"$tmp"
  mv -f "$tmp" "$PCSC_ENVFILE"
  # "<reader name><TAB><vpcd port>" per slot, by port: reader i slot j listens on
  # BASE+2i+j. (pcscd itself lists readers in the directory order of reader.conf.d.)
  tmp="$PCSC_READERS_FILE.tmp.$$"
  pcsc_reader_names | while IFS= read -r name; do
    if [[ "$name" =~ ^Kadi\ Encoder\ ([0-9]+)\ [0-9A-F]{2}\ ([0-9A-F]{2})$ ]]; then
      i="${BASH_REMATCH[1]}"
      j=$((16#${BASH_REMATCH[2]}))
      printf '%s\t%d\n' "$name" $((VPCD_BASE_PORT + 2 * i + j))
    fi
  done | sort -t $'\t' -k2,2n >"$tmp"
  mv -f "$tmp" "$PCSC_READERS_FILE"
}

start_pcscd() {
  local pid i p running_readers launcher
  if pid="$(pcscd_pid)"; then
    running_readers="$(sed -n 's/^KADI_READERS=//p' "$PCSC_ENVFILE" 2>/dev/null || true)"
    [[ -z "$running_readers" || "$running_readers" == "$READERS" ]] ||
      warn "pcscd already runs with $running_readers readers; KADI_READERS=$READERS ignored (stop it first)"
    echo "pcscd: already running (pid $pid) socket=$PCSC_SOCKET readers=${running_readers:-?}"
    return 0
  fi
  command -v pcscd >/dev/null || die "pcscd not found (run scripts/setup.sh)"
  command -v pcsc_scan >/dev/null || die "pcsc_scan not found (install pcsc-tools; run scripts/setup.sh)"
  [[ -n "$KADI_PYTHON" ]] || die "python3 not found (needed to hand pcscd its socket)"
  ((${#PCSC_SOCKET} < 100)) || die "pcscd: socket path too long for a Unix socket: $PCSC_SOCKET (set KADI_PCSC_DIR)"
  build_shim

  for ((i = 0; i < READERS; i++)); do
    for p in $((VPCD_BASE_PORT + 2 * i)) $((VPCD_BASE_PORT + 2 * i + 1)); do
      tcp_port_open "$p" && die "pcscd: vpcd port 127.0.0.1:$p is already in use (set KADI_VPCD_BASE_PORT)"
    done
  done

  mkdir -p "$PCSC_DIR"
  # Leftovers of a daemon killed hard: the socket (a socket-activated pcscd never
  # removes it) and our files describing it.
  rm -f "$PCSC_SOCKET" "$PCSC_PIDFILE" "$PCSC_ENVFILE" "$PCSC_READERS_FILE"
  pcsc_write_reader_conf

  # pcscd in the foreground (-f: logs to stdout -> our log file), our reader directory
  # (-c), its client socket handed over by the socket-activation snippet, and the
  # TCP_NODELAY shim preloaded (vpcd ports bound to 127.0.0.1 by the shim).
  local -a daemon=(env "LD_PRELOAD=$KADI_SHIM_LIB" KADI_SHIM_BIND_ADDR=127.0.0.1 pcscd -f -c "$PCSC_CONF_DIR")
  if [[ "${KADI_PCSCD_SHIM:-1}" == 0 ]]; then
    # Baseline for benchmarks only: no TCP_NODELAY (~48 ms per APDU) and vpcd on 0.0.0.0.
    warn "pcscd without the TCP_NODELAY shim (KADI_PCSCD_SHIM=0): slow APDUs, vpcd ports on all interfaces"
    daemon=(pcscd -f -c "$PCSC_CONF_DIR")
  fi
  [[ "${KADI_PCSCD_DEBUG:-0}" == 1 ]] && daemon+=(-d -a)
  launcher=("$KADI_PYTHON" -c "$KADI_PY_SOCKET_ACTIVATE" "$PCSC_SOCKET" "${daemon[@]}")
  if pcsc_private_run_possible; then
    mkdir -p "$PCSC_PRIVATE_RUN"
    # unshare and sh exec in place, so $! below stays the PID of pcscd itself.
    launcher=(unshare --mount --propagation private -- sh -c 'mount --bind "$0" /run/pcscd && exec "$@"'
      "$PCSC_PRIVATE_RUN" "${launcher[@]}")
  fi
  printf '\n=== %s pcscd start: %d readers, vpcd base port %d\n' "$(date -Is)" "$READERS" "$VPCD_BASE_PORT" >>"$PCSC_LOG"
  "${launcher[@]}" </dev/null >>"$PCSC_LOG" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PCSC_PIDFILE"

  # Wait for the socket and for all 2*READERS slots to be listed by a real client.
  if ! wait_for 20 "pcscd slots" pcsc_has_slots $((2 * READERS)) || ! pid_alive "$pid" pcscd; then
    tail -n 30 "$PCSC_LOG" >&2 || true
    pid_alive "$pid" && stop_pid pcscd "$pid" 5 TERM
    rm -f "$PCSC_SOCKET" "$PCSC_PIDFILE"
    die "pcscd did not come up with $((2 * READERS)) slots; see $PCSC_LOG"
  fi
  pcsc_write_env
  echo "pcscd: started (pid $pid) socket=$PCSC_SOCKET readers=$READERS slots=$((2 * READERS))" \
    "vpcd=127.0.0.1:$VPCD_BASE_PORT-$((VPCD_BASE_PORT + 2 * READERS - 1)) env=$PCSC_ENVFILE"
}

stop_pcscd() {
  local pid
  if pid="$(pcscd_pid)"; then
    stop_pid pcscd "$pid" 10 TERM
    echo "pcscd: stopped (pid $pid)"
  else
    echo "pcscd: not running"
  fi
  rm -f "$PCSC_SOCKET" "$PCSC_PIDFILE" "$PCSC_ENVFILE" "$PCSC_READERS_FILE"
}

status_pcscd() {
  local pid want got
  if pid="$(pcscd_pid)"; then
    want="$(sed -n 's/^KADI_READERS=//p' "$PCSC_ENVFILE" 2>/dev/null || true)"
    got="$(pcsc_reader_names | grep -c '^Kadi Encoder ' || true)"
    if [[ -n "$want" && "$got" == $((2 * want)) ]]; then
      echo "pcscd: running pid=$pid socket=$PCSC_SOCKET readers=$want slots=$got base-port=$(sed -n 's/^KADI_VPCD_BASE_PORT=//p' "$PCSC_ENVFILE")"
      return 0
    fi
    echo "pcscd: degraded pid=$pid socket=$PCSC_SOCKET slots=$got expected=$((2 * ${want:-0})) log=$PCSC_LOG"
    return 1
  fi
  echo "pcscd: stopped"
  return 1
}

# --- softhsm --------------------------------------------------------------------------

softhsm_write_conf() {
  mkdir -p "$HSM_TOKENS"
  chmod 700 "$HSM_DIR" "$HSM_TOKENS"
  local tmp="$HSM_CONF.tmp.$$"
  cat >"$tmp" <<EOF
# SoftHSM2 configuration for Kadi (written by scripts/services.sh). Use with
# SOFTHSM2_CONF=$HSM_CONF and the module $HSM_MODULE.
directories.tokendir = $HSM_TOKENS
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
  mv -f "$tmp" "$HSM_CONF"
}

softhsm_token_present() {
  [[ -f "$HSM_CONF" ]] || return 1
  SOFTHSM2_CONF="$HSM_CONF" softhsm2-util --show-slots 2>/dev/null |
    sed -n 's/^[[:space:]]*Label:[[:space:]]*//p' | sed 's/[[:space:]]*$//' |
    grep -Fx -- "$HSM_TOKEN" >/dev/null
}

# secret VAR FILE: the value of environment variable VAR if set, else the content of
# FILE, else a new random value written to FILE (mode 600). Prints it on stdout; the
# callers capture it into a variable, it never reaches the terminal.
secret() {
  local var="$1" file="$2"
  if [[ -n "${!var:-}" ]]; then
    printf '%s' "${!var}"
  elif [[ -s "$file" ]]; then
    head -n1 "$file" | tr -d '\r\n'
  else
    (
      umask 077
      mkdir -p "$SECRETS_DIR"
      chmod 700 "$SECRETS_DIR"
      openssl rand -hex 16 >"$file.tmp.$$"
      mv -f "$file.tmp.$$" "$file"
    )
    head -n1 "$file" | tr -d '\r\n'
  fi
}

start_softhsm() {
  command -v softhsm2-util >/dev/null || die "softhsm2-util not found (run scripts/setup.sh)"
  [[ -r "$HSM_MODULE" ]] || die "softhsm: PKCS#11 module $HSM_MODULE not found (install softhsm2)"
  softhsm_write_conf
  if softhsm_token_present; then
    [[ -n "${KADI_HSM_PIN:-}" || -s "$HSM_PIN_FILE" ]] ||
      warn "softhsm: token '$HSM_TOKEN' exists but no PIN is available (KADI_HSM_PIN unset, $HSM_PIN_FILE missing)"
    echo "softhsm: token '$HSM_TOKEN' already initialised conf=$HSM_CONF"
    return 0
  fi
  [[ -n "$KADI_PYTHON" ]] || die "python3 not found (needed to give softhsm2-util its PINs)"
  local so_pin user_pin
  so_pin="$(secret KADI_HSM_SO_PIN "$HSM_SO_PIN_FILE")"
  user_pin="$(secret KADI_HSM_PIN "$HSM_PIN_FILE")"
  ((${#so_pin} >= 4 && ${#so_pin} <= 255 && ${#user_pin} >= 4 && ${#user_pin} <= 255)) ||
    die "softhsm: PINs must be 4..255 characters"
  # softhsm2-util reads PINs from a terminal only: answer its prompts on a pty, PINs
  # passed through the environment of that helper (never on a command line).
  KADI_TTY_SO="$so_pin" KADI_TTY_USER="$user_pin" KADI_TTY_ANSWERS=KADI_TTY_SO,KADI_TTY_SO,KADI_TTY_USER,KADI_TTY_USER \
    SOFTHSM2_CONF="$HSM_CONF" "$KADI_PYTHON" -c "$KADI_PY_TTY_ANSWER" \
    softhsm2-util --init-token --free --label "$HSM_TOKEN" </dev/null >&2 9>&- ||
    die "softhsm: token initialisation failed"
  softhsm_token_present || die "softhsm: token '$HSM_TOKEN' not found after initialisation"
  echo "softhsm: token '$HSM_TOKEN' initialised conf=$HSM_CONF"
}

stop_softhsm() {
  echo "softhsm: nothing to stop (a PKCS#11 library, not a daemon); tokens kept in $HSM_TOKENS"
}

status_softhsm() {
  if softhsm_token_present; then
    echo "softhsm: ready token=$HSM_TOKEN conf=$HSM_CONF module=$HSM_MODULE"
    return 0
  fi
  echo "softhsm: token '$HSM_TOKEN' not initialised conf=$HSM_CONF"
  return 1
}

# --- env ------------------------------------------------------------------------------

print_env() {
  echo "export KADI_HOME='$KADI_HOME'"
  if redis_pid >/dev/null; then
    echo "export KADI_REDIS_URL='redis://127.0.0.1:$(cat "$REDIS_PORTFILE" 2>/dev/null || echo "$REDIS_PORT")/0'"
  fi
  if pg_pid >/dev/null; then echo "export KADI_DB_URL='$(pg_url "$(pg_port)")'"; fi
  if pcscd_pid >/dev/null && [[ -f "$PCSC_ENVFILE" ]]; then
    grep -E '^[A-Z_]+=' "$PCSC_ENVFILE" | sed "s/^\([A-Z_]*\)=\(.*\)$/export \1='\2'/"
  fi
  if [[ -f "$HSM_CONF" ]]; then
    echo "export SOFTHSM2_CONF='$HSM_CONF'"
    echo "export KADI_HSM_MODULE='$HSM_MODULE'"
    echo "export KADI_HSM_TOKEN='$HSM_TOKEN'"
    [[ -s "$HSM_PIN_FILE" ]] && echo "export KADI_HSM_PIN_FILE='$HSM_PIN_FILE'"
  fi
  return 0
}

# --- command line ---------------------------------------------------------------------

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
    start | stop | restart | status | env) ;;
    -h | --help | help) usage; return 0 ;;
    *)
      printf '%s: error: unknown command %s\n\n' "$KADI_SCRIPT_NAME" "${cmd:-(none)}" >&2
      usage >&2
      return 2
      ;;
  esac

  # Requested services in canonical start order.
  local -A want=()
  local arg
  [[ $# -gt 0 ]] || set -- all
  for arg in "$@"; do
    case "$arg" in
      redis | postgres | pcscd | softhsm) want[$arg]=1 ;;
      all)
        want[redis]=1 want[pcscd]=1 want[softhsm]=1
        [[ "$WITH_PG" == 1 ]] && want[postgres]=1
        # stop all: also a postgres that was started explicitly earlier.
        [[ "$cmd" == stop || "$cmd" == restart ]] && pg_pid >/dev/null && want[postgres]=1
        ;;
      *) die "unknown service '$arg' (redis, postgres, pcscd, softhsm, all)" ;;
    esac
  done
  local -a order=()
  local s
  for s in redis postgres pcscd softhsm; do [[ -n "${want[$s]:-}" ]] && order+=("$s"); done

  if [[ "$cmd" == env ]]; then print_env; return 0; fi
  if [[ "$cmd" == status ]]; then
    local rc=0
    for s in "${order[@]}"; do "status_$s" || rc=1; done
    return "$rc"
  fi

  # start/stop change state: one at a time per KADI_HOME. fd 9 holds the lock; every
  # daemon is started with 9>&- so it does not inherit (and keep) the lock.
  mkdir -p "$KADI_HOME"
  exec 9>"$KADI_HOME/.services.lock"
  flock -w 300 9 || die "another services.sh holds $KADI_HOME/.services.lock"

  local i
  if [[ "$cmd" == stop || "$cmd" == restart ]]; then
    for ((i = ${#order[@]} - 1; i >= 0; i--)); do "stop_${order[i]}"; done
  fi
  if [[ "$cmd" == start || "$cmd" == restart ]]; then
    for s in "${order[@]}"; do "start_$s"; done
  fi
}

main "$@"
