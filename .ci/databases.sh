#!/usr/bin/env bash
# Starts (or stops) throw-away PostgreSQL and MariaDB servers on 127.0.0.1 without systemd,
# with their data under $METERLINE_DB_ROOT (default /tmp/meterline-db). Needs root and the Debian
# packages `postgresql` and `mariadb-server` (.ci/run installs them).
#   bash .ci/databases.sh start   # prints the export lines for the test database URLs
#   bash .ci/databases.sh stop
# METERLINE_DB_DURABLE=0 (set by .ci/run) starts them without flushing to disk (PostgreSQL fsync,
# synchronous_commit and full-page writes off; InnoDB's log flushed once a second, no doublewrite):
# they hold only throw-away test databases, and no test stops a database server mid-write (the
# crash tests kill Meterline). The benchmarks measure durable defaults, so that is the default.
set -euo pipefail

root=${METERLINE_DB_ROOT:-/tmp/meterline-db}
pg_port=${METERLINE_PG_PORT:-55432}
my_port=${METERLINE_MYSQL_PORT:-33306}
password=meterline

durable=${METERLINE_DB_DURABLE:-1}
pg_options=""
my_options=()
if [ "$durable" = 0 ]; then
  pg_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  my_options=(--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --sync-binlog=0)
fi

pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }

start_postgres() {
  local bin data=$root/pg
  bin=$(pg_bin)
  mkdir -p "$root"
  if [ ! -f "$data/PG_VERSION" ]; then
    install -d -o postgres -g postgres "$data" "$root/pg-run"
    echo "$password" > "$root/pg-run/pw" && chown postgres "$root/pg-run/pw"
    su postgres -c "$bin/initdb -D $data -U postgres --pwfile=$root/pg-run/pw --auth-local=trust --auth-host=scram-sha-256" >"$root/pg-initdb.log" 2>&1
  fi
  if ! su postgres -c "$bin/pg_ctl -D $data status" >/dev/null 2>&1; then
    su postgres -c "$bin/pg_ctl -D $data -l $root/pg-run/server.log -w -t 60 -o '-c listen_addresses=127.0.0.1 -p $pg_port -k $root/pg-run $pg_options' start" >/dev/null
  fi
}

start_mariadb() {
  local data=$root/mariadb sock=$root/mariadb.sock
  mkdir -p "$root"
  if [ ! -d "$data/mysql" ]; then
    mariadb-install-db --user=root --datadir="$data" --auth-root-authentication-method=socket >"$root/mariadb-install.log" 2>&1
  fi
  if ! mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; then
    # setsid: the server must outlive the shell (and process group) that started it.
    setsid mariadbd --user=root --datadir="$data" --bind-address=127.0.0.1 --port="$my_port" \
      --socket="$sock" --pid-file="$root/mariadb.pid" --skip-name-resolve ${my_options[@]+"${my_options[@]}"} \
      >"$root/mariadb.log" 2>&1 &
    for _ in $(seq 1 120); do
      mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1 && break
      sleep 0.5
    done
    mariadb-admin --socket="$sock" -uroot ping >/dev/null
  fi
  mariadb --socket="$sock" -uroot -e "CREATE USER IF NOT EXISTS 'meterline'@'%' IDENTIFIED BY '$password'; GRANT ALL PRIVILEGES ON *.* TO 'meterline'@'%' WITH GRANT OPTION;"
}

stop_all() {
  local bin
  bin=$(pg_bin 2>/dev/null || true)
  if [ -n "$bin" ] && [ -f "$root/pg/PG_VERSION" ]; then
    su postgres -c "$bin/pg_ctl -D $root/pg -m fast -w stop" >/dev/null 2>&1 || true
  fi
  if [ -S "$root/mariadb.sock" ]; then
    mariadb-admin --socket="$root/mariadb.sock" -uroot shutdown >/dev/null 2>&1 || true
  fi
}

case "${1:-}" in
  start)
    start_postgres
    start_mariadb
    echo "export METERLINE_TEST_POSTGRES_URL=postgres://postgres:$password@127.0.0.1:$pg_port/postgres"
    echo "export METERLINE_TEST_MYSQL_URL=mysql://meterline:$password@127.0.0.1:$my_port/mysql"
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
