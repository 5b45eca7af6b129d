#!/usr/bin/env bash
# Starts throwaway PostgreSQL and Redis servers on loopback for Rampart's
# integration tests, and prints the environment that enables those tests.
#
#   scripts/services.sh install   # apt-get the servers and Chromium (Debian/Ubuntu, as root)
#   eval "$(scripts/services.sh start)"
#   go test work
#   scripts/services.sh stop
#
# The servers keep their data under $RAMPART_SERVICES_DIR (default
# /tmp/rampart-services) and listen on 127.0.0.1 only, on ports that do not
# clash with servers you may already run (PostgreSQL 55432, Redis 56379).
#
# Both also speak TLS, with a certificate for localhost and 127.0.0.1 from
# a CA made here ($dir/tls/ca.pem): PostgreSQL on its one port (sslmode
# decides), Redis on a port of its own (56380). Plain connections keep
# working for every other test.
set -euo pipefail

dir=${RAMPART_SERVICES_DIR:-/tmp/rampart-services}
pg_port=${RAMPART_PG_PORT:-55432}
redis_port=${RAMPART_REDIS_PORT:-56379}
redis_tls_port=${RAMPART_REDIS_TLS_PORT:-56380}

log() { printf '%s\n' "$*" >&2; }

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ]; then echo "$d"; return; fi
  d=$(dirname "$(command -v initdb 2>/dev/null || command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")
  [ -x "$d/initdb" ] || { log "PostgreSQL server binaries not found: run '$0 install' (or apt-get install postgresql)"; exit 1; }
  echo "$d"
}

# as_pg runs a command as the user that owns the PostgreSQL data directory:
# PostgreSQL refuses to run as root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# install apt-gets what the tests need and the machine lacks: the servers,
# Chromium for the browser tests, curl for CI's smoke test, openssl for the
# services' CA, and testssl.sh (Debian's, 3.0.8 in bookworm) for CI's TLS
# check (scripts/testssl/run.sh).
install() {
  local need=()
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v openssl >/dev/null || need+=(openssl)
  command -v testssl >/dev/null || need+=(testssl.sh)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  command -v chromium >/dev/null || need+=(chromium)
  command -v curl >/dev/null || need+=(curl)
  [ ${#need[@]} -gt 0 ] || return 0
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# make_tls makes, once, a CA and a server certificate for localhost and
# 127.0.0.1 (ECDSA P-256, valid 10 years: test use only) in $dir/tls.
make_tls() {
  local t=$dir/tls
  [ -s "$t/server.pem" ] && return 0
  mkdir -p "$t"
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -days 3650 \
    -subj "/CN=Rampart services test CA" -keyout "$t/ca-key.pem" -out "$t/ca.pem" 2>/dev/null
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=localhost" \
    -keyout "$t/server-key.pem" -out "$t/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n' >"$t/ext.cnf"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial -days 3650 -sha256 \
    -extfile "$t/ext.cnf" -out "$t/server.pem" 2>/dev/null
  chmod 0644 "$t/ca.pem" "$t/server.pem"
  chmod 0600 "$t/ca-key.pem" "$t/server-key.pem"
}

start_pg() {
  local bin data=$dir/pg
  bin=$(pg_bin)
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir" 2>/dev/null || true; chmod 0755 "$dir"; fi
  if [ ! -s "$data/PG_VERSION" ]; then
    as_pg mkdir -p "$data"
    as_pg "$bin/initdb" -D "$data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
  fi
  if ! as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
  fi
  as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qAt -c \
    "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='rampart') THEN CREATE ROLE rampart LOGIN PASSWORD 'rampart'; END IF; END\$\$;" >/dev/null
  # CREATEROLE: the example's audit tests create an insert-only writer role
  # and an owner role of their own, as a deployment would (README).
  as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qAt -c "ALTER ROLE rampart CREATEROLE" >/dev/null
  if [ -z "$(as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qAt -c "SELECT 1 FROM pg_database WHERE datname='rampart'")" ]; then
    as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qAt -c "CREATE DATABASE rampart OWNER rampart" >/dev/null
  fi
  # TLS too (a reload is enough, so a server already running gets it):
  # PostgreSQL wants its key private to its own user.
  if [ ! -s "$data/server.key" ]; then
    as_pg cp "$dir/tls/server.pem" "$data/server.crt"
    cat "$dir/tls/server-key.pem" | as_pg tee "$data/server.key" >/dev/null
    as_pg chmod 0600 "$data/server.key"
  fi
  as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qAt \
    -c "ALTER SYSTEM SET ssl = on" -c "ALTER SYSTEM SET ssl_cert_file = '$data/server.crt'" \
    -c "ALTER SYSTEM SET ssl_key_file = '$data/server.key'" -c "SELECT pg_reload_conf()" >/dev/null
  for _ in $(seq 50); do
    [ "$(as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qAt -c "SHOW ssl")" = on ] && return 0
    sleep 0.1
  done
  log "PostgreSQL did not turn TLS on: see $data/server.log"; exit 1
}

start_redis() {
  mkdir -p "$dir/redis"
  if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir/redis" --save '' --appendonly no \
      --daemonize yes --logfile "$dir/redis/server.log" --pidfile "$dir/redis/redis.pid" >/dev/null
    for _ in $(seq 50); do
      redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
  fi
  redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null
  # The TLS port, set at run time so that a server already running gets
  # it; clients need no certificate of their own.
  if [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" config get tls-port | tail -n 1)" != "$redis_tls_port" ]; then
    redis-cli -h 127.0.0.1 -p "$redis_port" config set tls-cert-file "$dir/tls/server.pem" tls-key-file "$dir/tls/server-key.pem" \
      tls-ca-cert-file "$dir/tls/ca.pem" tls-auth-clients no >/dev/null
    redis-cli -h 127.0.0.1 -p "$redis_port" config set tls-port "$redis_tls_port" >/dev/null
  fi
  redis-cli --tls --cacert "$dir/tls/ca.pem" -h localhost -p "$redis_tls_port" ping >/dev/null
}

print_env() {
  echo "export RAMPART_TEST_POSTGRES_DSN='postgres://rampart:rampart@127.0.0.1:$pg_port/rampart?sslmode=disable'"
  echo "export RAMPART_TEST_REDIS_ADDR='127.0.0.1:$redis_port'"
  # TLS: the names match the certificate; the CA is not in the DSN, so
  # that clients take it from where they are told (the app: a secret).
  echo "export RAMPART_TEST_POSTGRES_TLS_DSN='postgres://rampart:rampart@localhost:$pg_port/rampart?sslmode=verify-full'"
  echo "export RAMPART_TEST_REDIS_TLS_ADDR='localhost:$redis_tls_port'"
  echo "export RAMPART_TEST_SERVICES_CA='$dir/tls/ca.pem'"
}

stop() {
  local bin
  if [ -s "$dir/pg/PG_VERSION" ]; then
    bin=$(pg_bin)
    as_pg "$bin/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}

case "${1:-start}" in
  install) install ;;
  start) make_tls; start_pg; start_redis; print_env
    log "PostgreSQL on 127.0.0.1:$pg_port (TLS too), Redis on 127.0.0.1:$redis_port and TLS on $redis_tls_port (data in $dir, CA $dir/tls/ca.pem)" ;;
  env) print_env ;;
  stop) stop ;;
  *) log "usage: $0 install|start|env|stop"; exit 2 ;;
esac
