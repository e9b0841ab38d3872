#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1 for the integration tests (installs Debian's package
# when absent) and prints the JDBC URL the tests read from DICE_TEST_POSTGRES_URL.
#   usage: eval "$(ops/scripts/postgres-throwaway.sh start)";  ops/scripts/postgres-throwaway.sh stop
set -euo pipefail
port="${DICE_PG_PORT:-54329}"
data="${DICE_PG_DATA:-/tmp/dice-pg-$port}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-start}" in
  start)
    if [ -z "$bin" ]; then
      echo "postgres-throwaway: installing Debian's postgresql" >&2
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
      bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    fi
    rm -rf "$data" && mkdir -p "$data" && { [ "$(id -u)" != 0 ] || chown postgres "$data"; }
    as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
    as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -k $data" start >&2
    as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres dice
    echo "export DICE_TEST_POSTGRES_URL='jdbc:postgresql://127.0.0.1:$port/dice'"
    ;;
  stop)
    [ -n "$bin" ] && [ -d "$data" ] && as_postgres "$bin/pg_ctl" -D "$data" -m fast stop >&2 || true
    ;;
esac
