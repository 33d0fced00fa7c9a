#!/usr/bin/env bash
# Starts, stops and reports the real services Till's integration tests run against:
# Postgres (127.0.0.1:5432), Redis (127.0.0.1:6379) and a single-node Apache Kafka broker
# in KRaft mode (127.0.0.1:9092) taken from Maven Central. Idempotent: `up` twice is safe.
# `down` stops only the broker this script started (by its pid file); Postgres and Redis
# belong to the machine and are left running.
#
#   scripts/services.sh up          start what is down; prints ONLY the `export TILL_TEST_*=` lines
#                                   on stdout (so `eval "$(scripts/services.sh up)"` is safe), all
#                                   progress, Maven's and the servers' output on stderr
#   scripts/services.sh down [PID]  stop the broker this script started (only if it is PID, if given)
#   scripts/services.sh status      what runs
#   scripts/services.sh env         the `export` lines only
#   scripts/services.sh pid         the pid of the broker this script started, or nothing
#
# Needs (not installed by this script): Postgres and Redis on this machine, Java 17 and Maven
# for the broker. On Debian/Ubuntu:
#   sudo apt-get install -y postgresql redis-server openjdk-17-jdk-headless maven
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${TILL_CACHE_DIR:-$HOME/.cache/till}"
kafka_version="3.9.2"
kafka_home="$cache/kafka-$kafka_version"
kafka_libs="$kafka_home/libs"
kafka_state="${TILL_KAFKA_STATE_DIR:-$cache/kafka-state}"
kafka_pid="$kafka_state/broker.pid"
kafka_log="$kafka_state/broker.log"
kafka_port="${TILL_KAFKA_PORT:-9092}"
kafka_controller_port="${TILL_KAFKA_CONTROLLER_PORT:-9093}"
# The tests' database. A machine whose Postgres asks for a password sets TILL_TEST_DATABASE_URL
# (e.g. postgres://postgres:secret@127.0.0.1:5432/till_test); this script then uses it as well.
pg_url="${TILL_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/till_test}"
pg_db="${pg_url##*/}"
pg_db="${pg_db%%\?*}"
pg_admin_url="${pg_url%/*}/postgres" # same server and user, the maintenance database

log() { printf '[services] %s\n' "$*" >&2; }

# One clear line naming the Debian package, instead of a `command not found` further down.
need() { # need COMMAND PACKAGE WHAT-FOR
  command -v "$1" >/dev/null 2>&1 && return 0
  log "$1 is missing ($3); install it with: sudo apt-get install -y $2"
  exit 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  local rc
  while true; do
    rc=0; "$@" || rc=$?
    ((rc == 0)) && return 0
    ((rc == 2)) && return 1 # the check says waiting is pointless
    if ((SECONDS >= deadline)); then log "$what did not come up within ${seconds}s"; return 1; fi
    sleep 0.5
  done
}

# --- Postgres ----------------------------------------------------------------------------
pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null || port_open 5432; }

pg_up() {
  if ! pg_ready; then
    need pg_ctlcluster postgresql "Postgres is not running on 127.0.0.1:5432, and it starts it"
    local version
    version="$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)"
    if [ -z "$version" ]; then
      log "Postgres is not running on 127.0.0.1:5432 and no cluster exists under /etc/postgresql; install it with: sudo apt-get install -y postgresql"
      exit 1
    fi
    log "Postgres is down; starting cluster $version/main with pg_ctlcluster"
    if ! pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
      log "could not start Postgres; start it yourself: sudo pg_ctlcluster $version main start"
      exit 1
    fi
    wait_for 30 Postgres pg_ready
  fi
  need psql postgresql-client "it creates the test database"
  local exists
  if ! exists="$(psql -w "$pg_admin_url" -tAc "select 1 from pg_database where datname='$pg_db'")"; then
    log "cannot connect to Postgres with TILL_TEST_DATABASE_URL's server and user (needs a password? see the README's Prerequisites)"
    exit 1
  fi
  if [ "$exists" != 1 ]; then
    psql -w "$pg_admin_url" -qc "create database $pg_db"
    log "created database $pg_db"
  fi
  log "Postgres ready: database $pg_db"
}

# --- Redis -------------------------------------------------------------------------------
redis_ready() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

redis_up() {
  need redis-cli redis-tools "it checks that Redis answers"
  if ! redis_ready; then
    need redis-server redis-server "Redis is not running on 127.0.0.1:6379, and it starts it"
    log "Redis is down; starting it"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    wait_for 15 Redis redis_ready
  fi
  log "Redis ready at 127.0.0.1:6379"
}

# --- Kafka -------------------------------------------------------------------------------
kafka_fetch() {
  if [ -f "$kafka_libs/kafka_2.13-$kafka_version.jar" ]; then return; fi
  need mvn maven "it fetches the Kafka broker's jars from Maven Central, once"
  log "fetching Apache Kafka $kafka_version from Maven Central into $kafka_libs (Maven's log: $cache/kafka-fetch.log)"
  mkdir -p "$cache"
  # Maven never writes to our stdout: Debian's Maven 3.8 prints ANSI resets there even in batch
  # mode, and `up`'s stdout is eval'd. Its whole output goes to a log, shown when it fails.
  local tmp="$kafka_home.partial"
  rm -rf "$tmp"
  if ! mvn -B -q -ntp -Dstyle.color=never -f "$here/kafka/pom.xml" -Dkafka.version="$kafka_version" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" \
    >"$cache/kafka-fetch.log" 2>&1 </dev/null; then
    tail -40 "$cache/kafka-fetch.log" >&2
    log "fetching Kafka with Maven failed (full log: $cache/kafka-fetch.log)"
    exit 1
  fi
  # Moved into place only when complete, so an interrupted fetch is retried, never half-used.
  rm -rf "$kafka_home"
  mv "$tmp" "$kafka_home"
}

java_check() { # Kafka 3.9's broker on Java 17 (what this setup is tested with)
  need java openjdk-17-jdk-headless "it runs the Kafka broker"
  local major
  major="$(java -version 2>&1 | sed -nE 's/.* version "([0-9]+).*/\1/p' | head -1)"
  if [ -z "$major" ] || [ "$major" -lt 17 ]; then
    log "java is version ${major:-unknown}; the Kafka broker needs Java 17 or newer: sudo apt-get install -y openjdk-17-jdk-headless"
    exit 1
  fi
}

kafka_running() { [ -f "$kafka_pid" ] && kill -0 "$(cat "$kafka_pid")" 2>/dev/null; }

kafka_config() {
  cat >"$kafka_state/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$kafka_controller_port
listeners=PLAINTEXT://127.0.0.1:$kafka_port,CONTROLLER://127.0.0.1:$kafka_controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$kafka_port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$kafka_state/data
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF
  cat >"$kafka_state/log4j.properties" <<EOF
log4j.rootLogger=WARN, stdout
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

kafka_java_cmd() { # the broker's JVM: a small heap, logs to our own file
  kafka_cmd=(java -Xms128m -Xmx384m -XX:+UseSerialGC -Djava.awt.headless=true
    -Dlog4j.configuration="file:$kafka_state/log4j.properties" -cp "$kafka_libs/*" "$@")
}
kafka_java() { kafka_java_cmd "$@"; "${kafka_cmd[@]}"; }

kafka_up() {
  if kafka_running; then log "Kafka already running (pid $(cat "$kafka_pid"))"; return; fi
  if port_open "$kafka_port"; then
    log "something not started by this script listens on 127.0.0.1:$kafka_port; using it as the broker"
    return
  fi
  java_check
  kafka_fetch
  mkdir -p "$kafka_state"
  kafka_config
  if [ ! -f "$kafka_state/data/meta.properties" ]; then
    local cluster_id
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)"
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$kafka_state/server.properties" >/dev/null
    log "formatted KRaft storage (cluster $cluster_id)"
  fi
  log "starting Kafka $kafka_version on 127.0.0.1:$kafka_port (log: $kafka_log)"
  kafka_java_cmd kafka.Kafka "$kafka_state/server.properties"
  nohup "${kafka_cmd[@]}" >"$kafka_log" 2>&1 </dev/null &
  echo $! >"$kafka_pid"
  # The broker answers on its port once KRaft has elected itself and the listener is up.
  if ! wait_for 90 Kafka kafka_answers; then tail -30 "$kafka_log" >&2; return 1; fi
  log "Kafka ready at 127.0.0.1:$kafka_port (pid $(cat "$kafka_pid"))"
}

kafka_answers() {
  kafka_running || { log "broker exited:"; tail -20 "$kafka_log" >&2; return 2; }
  port_open "$kafka_port" && grep -q "Kafka Server started\|\[KafkaRaftServer nodeId=1\] Kafka Server started" "$kafka_log"
}

kafka_down() { # kafka_down [PID]: with PID, only if the broker this script runs is that one
  if ! kafka_running; then rm -f "$kafka_pid"; log "Kafka not running (nothing started by this script)"; return; fi
  local pid; pid="$(cat "$kafka_pid")"
  if [ -n "${1:-}" ] && [ "$pid" != "$1" ]; then
    log "the broker this script runs is pid $pid, not $1; leaving it running"
    return
  fi
  log "stopping Kafka (pid $pid)"
  kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then log "Kafka did not stop in 30s; killing"; kill -9 "$pid" 2>/dev/null || true; break; fi
    sleep 0.5
  done
  rm -f "$kafka_pid"
}

print_env() {
  printf 'export TILL_TEST_DATABASE_URL=%q\n' "$pg_url"
  echo "export TILL_TEST_REDIS_URL=redis://127.0.0.1:6379/0"
  echo "export TILL_TEST_KAFKA_BROKERS=127.0.0.1:$kafka_port"
}

status() {
  if pg_ready; then echo "postgres: up"; else echo "postgres: down"; fi
  if redis_ready; then echo "redis: up"; else echo "redis: down"; fi
  if kafka_running; then echo "kafka: up (pid $(cat "$kafka_pid"))"
  elif port_open "$kafka_port"; then echo "kafka: up (not started by this script)"
  else echo "kafka: down"; fi
}

case "${1:-}" in
  # Whatever the tools print (pg_ctlcluster, psql, java, Maven) goes to stderr: stdout carries
  # the export lines only, because callers eval it.
  up) { pg_up; redis_up; kafka_up; } >&2; print_env ;;
  down) kafka_down "${2:-}" ;;
  status) status ;;
  env) print_env ;;
  pid) if kafka_running; then cat "$kafka_pid"; fi ;;
  *) echo "usage: $0 up|down [PID]|status|env|pid" >&2; exit 2 ;;
esac
