# shellcheck shell=bash
# Shared helpers for scripts/setup.sh and scripts/services.sh.
# Source it; it defines functions and a few variables and runs nothing else.
#
# Conventions:
#   - messages go to stderr, prefixed with the script name; machine-usable output
#     (status lines, URLs) goes to stdout;
#   - secrets (PINs) are never printed and never put on a command line.

# Repository root (the parent of this scripts/ directory), absolute.
KADI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
KADI_SCRIPT_NAME="$(basename "${0:-kadi}")"

# The system Python (vsmartcard-vpicc depends on it, so it is always there on our
# hosts). Preferred over a python3 found on PATH, which may be a pyenv shim.
if [[ -z "${KADI_PYTHON:-}" ]]; then
  if [[ -x /usr/bin/python3 ]]; then KADI_PYTHON=/usr/bin/python3; else KADI_PYTHON="$(command -v python3 || true)"; fi
fi

log()  { printf '%s: %s\n' "$KADI_SCRIPT_NAME" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$KADI_SCRIPT_NAME" "$*" >&2; }
die()  { printf '%s: error: %s\n' "$KADI_SCRIPT_NAME" "$*" >&2; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if is_root; then "$@"; else sudo "$@"; fi
}

# abs_path PATH: absolute form of PATH (which need not exist yet), relative to $PWD.
abs_path() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *)  printf '%s\n' "$PWD/${1#./}" ;;
  esac
}

# pid_alive PID [COMM]: true when PID is a live (non-zombie) process and, if COMM is
# given, its /proc/PID/comm is COMM (protects against a recycled PID).
pid_alive() {
  local pid="$1" want="${2:-}" state comm
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Field 3 of /proc/PID/stat is the state; the command name (field 2) may contain
  # spaces, so cut everything up to the last ") ".
  state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ "$state" != Z && "$state" != X ]] || return 1
  if [[ -n "$want" ]]; then
    comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
    [[ "$comm" == "$want" ]] || return 1
  fi
}

# pid_gone PID: true once the kernel has no process PID at all (zombies included).
pid_gone() {
  ! kill -0 "$1" 2>/dev/null
}

# read_pid FILE: prints the first line of a PID file if it holds a number.
read_pid() {
  local pid
  [[ -r "$1" ]] || return 1
  pid="$(head -n1 "$1" 2>/dev/null | tr -d '[:space:]')"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$pid"
}

# stop_pid NAME PID [GRACE_SECONDS] [SIGNAL...]
# Sends each SIGNAL in turn (default: TERM) and waits up to GRACE_SECONDS (default 10)
# after each for the process to exit, then sends KILL. Only ever signals PID itself.
stop_pid() {
  local name="$1" pid="$2" grace="${3:-10}" sig i
  shift 2
  (($# > 0)) && shift
  (($# > 0)) || set -- TERM
  for sig in "$@" KILL; do
    pid_alive "$pid" || return 0
    [[ "$sig" == KILL ]] && warn "$name (pid $pid) still running after SIG${*: -1} and ${grace}s; sending SIGKILL"
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      pid_alive "$pid" || return 0
      sleep 0.1
    done
  done
  pid_alive "$pid" && die "$name (pid $pid) survived SIGKILL"
  return 0
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_for() {
  local secs="$1" what="$2" i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

# tcp_port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
tcp_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# valid_port VALUE: 1..65535
valid_port() {
  [[ "$1" =~ ^[0-9]+$ ]] && (("$1" >= 1 && "$1" <= 65535))
}

# Directory of the PostgreSQL server binaries (initdb, pg_ctl, postgres). Prefers
# $KADI_PG_BIN, then the newest /usr/lib/postgresql/*/bin (Debian keeps them off PATH).
pg_bindir() {
  local d
  if [[ -n "${KADI_PG_BIN:-}" ]]; then printf '%s\n' "$KADI_PG_BIN"; return 0; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then printf '%s\n' "$d"; return 0; fi
  done
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; return 0; fi
  return 1
}

# as_postgres COMMAND...: runs a PostgreSQL server command as the OS user postgres when
# we are root (the server refuses to run as root), otherwise as ourselves.
as_postgres() {
  if is_root; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The TCP_NODELAY shim for pcscd (see scripts/tcp_nodelay.c).
KADI_SHIM_SRC="$KADI_ROOT/scripts/tcp_nodelay.c"
KADI_SHIM_LIB="$KADI_ROOT/build/libtcpnodelay.so"

# build_shim [--force]: compiles build/libtcpnodelay.so when missing or older than its
# source. Builds into a temporary file and renames, so a concurrent reader never sees
# a half-written library.
build_shim() {
  if [[ "${1:-}" != --force && -f "$KADI_SHIM_LIB" && ! "$KADI_SHIM_SRC" -nt "$KADI_SHIM_LIB" ]]; then
    return 0
  fi
  command -v gcc >/dev/null 2>&1 || die "gcc not found (install build-essential) to build $KADI_SHIM_LIB"
  mkdir -p "$(dirname "$KADI_SHIM_LIB")"
  local tmp="$KADI_SHIM_LIB.tmp.$$"
  gcc -shared -fPIC -O2 -Wall -o "$tmp" "$KADI_SHIM_SRC" -ldl || { rm -f "$tmp"; die "building $KADI_SHIM_LIB failed"; }
  mv -f "$tmp" "$KADI_SHIM_LIB"
  log "built $KADI_SHIM_LIB"
}

# --- Python helpers (run with $KADI_PYTHON -c "$SNIPPET" ARGS...) ---------------------

# Socket activation for pcscd: pcsc-lite 1.9.9's daemon always binds the compiled-in
# /run/pcscd/pcscd.comm and ignores PCSCLITE_CSOCK_NAME (only the client library reads
# it), but it accepts an already-listening socket the systemd way (sd_listen_fds:
# fd 3, LISTEN_FDS=1, LISTEN_PID=<its pid>). This snippet creates the listening Unix
# socket at argv[1], puts it on fd 3, starts a new session (detached from the caller's
# terminal/process group) and execs argv[2:] (same PID, so LISTEN_PID matches).
# systemd-socket-activate is not used because it only execs on the first connection.
# shellcheck disable=SC2034
KADI_PY_SOCKET_ACTIVATE='
import os, socket, sys
path = sys.argv[1]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(path)
sock.listen(128)
if sock.fileno() != 3:
    os.dup2(sock.fileno(), 3)
os.set_inheritable(3, True)   # Python sockets are close-on-exec by default
try:
    os.setsid()
except OSError:
    pass                      # already a process-group leader: keep going
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ.pop("LISTEN_FDNAMES", None)
os.execvp(sys.argv[2], sys.argv[2:])
'

# Runs argv[1:] on a pseudo-terminal and answers its "...PIN:" prompts, in order, with
# the values of the environment variables named in KADI_TTY_ANSWERS (comma-separated).
# softhsm2-util reads PINs only from a terminal; this keeps PINs off command lines (which
# any local user can read in /proc) and out of the output (prompts, echoed '*' and
# blank lines are dropped; the tool's other lines are passed through).
# shellcheck disable=SC2034
KADI_PY_TTY_ANSWER='
import os, pty, sys
names = [n for n in os.environ.get("KADI_TTY_ANSWERS", "").split(",") if n]
answers = [os.environ[n] for n in names]
for n in set(names):
    del os.environ[n]          # the child does not need them
os.environ.pop("KADI_TTY_ANSWERS", None)
def show(line):
    text = line.decode(errors="replace").strip("\r *")
    if text and not text.startswith("===") and not text.startswith("Please "):
        sys.stdout.write(text + "\n")
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
pending = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:            # EIO: the child closed the terminal
        break
    if not chunk:
        break
    pending += chunk
    if pending.rstrip().endswith(b"PIN:"):
        if not answers:
            os.kill(pid, 15)
            sys.stderr.write("unexpected PIN prompt\n")
            break
        os.write(fd, answers.pop(0).encode() + b"\n")
        pending = b""
        continue
    *lines, pending = pending.split(b"\n")
    for line in lines:
        show(line)
show(pending)
sys.stdout.flush()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
'
