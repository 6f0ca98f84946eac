#!/usr/bin/env bash
# Start the local services the test suite talks to (PostgreSQL, NATS JetStream) if they are down.
# Idempotent; safe to run on a developer machine or in CI. Installs nothing that is already there.
set -uo pipefail

log() { echo "services: $*" >&2; }

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1; then
  log "installing PostgreSQL client/server from Debian packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || log "apt-get failed"
fi
if ! pg_up; then
  log "starting PostgreSQL"
  if ls /etc/postgresql >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if pg_up; then
  # The suite connects as postgres with trust auth and creates its own throwaway databases.
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
  log "PostgreSQL is up"
else
  log "PostgreSQL is NOT reachable on 127.0.0.1:5432; PostgreSQL tests will fail"
fi

nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if ! nats_up && [ -x /usr/sbin/nats-server ]; then
  log "starting NATS with JetStream"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
  for _ in $(seq 1 20); do nats_up && break; sleep 0.5; done
fi
nats_up && log "NATS is up" || log "NATS is not running"
exit 0
