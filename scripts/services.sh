#!/usr/bin/env bash
# Starts, stops and reports the real services Till's integration tests run against:
# Postgres (127.0.0.1:5432), Redis (127.0.0.1:6379) and a single-node Apache Kafka broker
# in KRaft mode (127.0.0.1:9092) taken from Maven Central. Idempotent: `up` twice is safe.
# `down` stops only the broker this script started (by its pid file); Postgres and Redis
# belong to the machine and are left running.
#
#   scripts/services.sh up|down|status|env
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
pg_db="till_test"

log() { printf '[services] %s\n' "$*" >&2; }

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
    log "Postgres is down; starting it with pg_ctlcluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    wait_for 30 Postgres pg_ready
  fi
  if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='$pg_db'" | grep -q 1; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "create database $pg_db" >/dev/null
    log "created database $pg_db"
  fi
  log "Postgres ready at 127.0.0.1:5432/$pg_db"
}

# --- Redis -------------------------------------------------------------------------------
redis_ready() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

redis_up() {
  if ! redis_ready; then
    log "Redis is down; starting it"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    wait_for 15 Redis redis_ready
  fi
  log "Redis ready at 127.0.0.1:6379"
}

# --- Kafka -------------------------------------------------------------------------------
kafka_fetch() {
  if [ -f "$kafka_libs/kafka_2.13-$kafka_version.jar" ]; then return; fi
  log "fetching Apache Kafka $kafka_version from Maven Central into $kafka_libs"
  mkdir -p "$kafka_libs"
  mvn -q -B -f "$here/kafka/pom.xml" -Dkafka.version="$kafka_version" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$kafka_libs"
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
  command -v java >/dev/null || { log "java is required for the Kafka broker"; return 1; }
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

kafka_down() {
  if ! kafka_running; then rm -f "$kafka_pid"; log "Kafka not running (nothing started by this script)"; return; fi
  local pid; pid="$(cat "$kafka_pid")"
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
  echo "export TILL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$pg_db"
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
  up) pg_up; redis_up; kafka_up; print_env ;;
  down) kafka_down ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
