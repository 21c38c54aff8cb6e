# Sourced by scripts/test: a throwaway PostgreSQL cluster for the PostgreSQL store's tests.
#
# start_test_postgres exports INTERLOCK_TEST_POSTGRES_URL and stops the cluster on exit (trap),
# unless INTERLOCK_TEST_POSTGRES_URL is already set (then that server is used as it is).
# The cluster lives in a temporary directory, listens on 127.0.0.1 only, at a free port, with
# trust authentication for local connections; it runs as an unprivileged user because
# PostgreSQL refuses to run as root (CI runs as root). Missing binaries are installed with
# apt-get. When nothing works, the URL stays unset: the tests then skip locally and fail in CI.

# Prints the directory holding initdb and pg_ctl (the newest Debian-style install first), or
# nothing.
_pg_bin_dir() {
  local dir found=""
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then found="$dir"; fi
  done
  if [ -z "$found" ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    found="$(dirname "$(command -v initdb)")"
  fi
  echo "$found"
}

_pg_free_port() {
  "${PY:-python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_test_postgres() {
  if [ -n "${INTERLOCK_TEST_POSTGRES_URL:-}" ]; then
    echo "== postgres: using INTERLOCK_TEST_POSTGRES_URL"
    return 0
  fi
  local bin
  bin="$(_pg_bin_dir)"
  if [ -z "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== postgres: installing the server with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin="$(_pg_bin_dir)"
  fi
  if [ -z "$bin" ]; then
    echo "== postgres: no server binaries (initdb, pg_ctl); PostgreSQL tests skip (fail in CI)" >&2
    return 0
  fi
  local run_as=()
  local user
  user="$(id -un)"
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    if ! id "$user" >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    fi
    if command -v setpriv >/dev/null 2>&1; then
      run_as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups --)
    else
      run_as=(runuser -u "$user" --)
    fi
  fi
  PG_TEST_DIR="$(mktemp -d "${TMPDIR:-/tmp}/interlock-pg.XXXXXX")"
  chmod 755 "$PG_TEST_DIR"
  [ "$(id -u)" = 0 ] && chown "$user" "$PG_TEST_DIR"
  local port
  port="$(_pg_free_port)"
  "${run_as[@]}" "$bin/initdb" -D "$PG_TEST_DIR/data" -U interlock -A trust -E UTF8 \
    --no-sync >"$PG_TEST_DIR/initdb.log" 2>&1 || {
    cat "$PG_TEST_DIR/initdb.log" >&2
    return 1
  }
  "${run_as[@]}" "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TEST_DIR -c fsync=off -c max_connections=300 -c full_page_writes=off -c synchronous_commit=off" \
    start >/dev/null || {
    cat "$PG_TEST_DIR/server.log" >&2
    return 1
  }
  PG_TEST_STOP=("${run_as[@]}" "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -m fast -w stop)
  trap stop_test_postgres EXIT
  export INTERLOCK_TEST_POSTGRES_URL="postgresql://interlock@127.0.0.1:$port/postgres"
  echo "== postgres: throwaway cluster on 127.0.0.1:$port"
}

stop_test_postgres() {
  if [ -n "${PG_TEST_DIR:-}" ]; then
    "${PG_TEST_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$PG_TEST_DIR"
    PG_TEST_DIR=""
  fi
}
