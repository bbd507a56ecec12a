#!/usr/bin/env bash
# Local single-node Kafka 4.2 (KRaft, broker + controller in one JVM) for development and tests.
#
#   deploy/kafka/kafka.sh start                 fetch the jars (Maven) if needed, format storage on
#                                               first start, start the broker in the background
#   deploy/kafka/kafka.sh wait-ready [SECONDS]  wait until the broker serves requests (default 90 s)
#   deploy/kafka/kafka.sh status                running/stopped, pid, ports (exit 0 running, 3 not)
#   deploy/kafka/kafka.sh stop                  SIGTERM, up to 30 s, then SIGKILL
#   deploy/kafka/kafka.sh logs [-f | LINES]     last LINES (default 100) lines of the log, -f follows
#   deploy/kafka/kafka.sh run-class MAIN [ARG]  run a Kafka tool class on the broker's class path, e.g.
#       run-class org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#
# Environment:
#   KAFKA_PORT             client port (default 9092), listening on 127.0.0.1 only
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT + 1)
#   KAFKA_BOOTSTRAP        host:port[,host:port] of an external cluster: start/stop do nothing,
#                          wait-ready/status only check that it accepts TCP connections
#   ORDERTRIAGE_CACHE      cache folder (default <repo>/.cache); this script uses <cache>/kafka/
#   KAFKA_HEAP_OPTS        broker heap (default "-Xmx512m -Xms256m")
#   JAVA_HOME              Java 17+ to use (default: java on PATH)
#
# Files, all in <cache>/kafka/:
#   libs/                           jars resolved from deploy/kafka/pom.xml
#   server-<port>.properties        deploy/kafka/server.properties rendered for this port
#   data-<port>/                    topic data and KRaft metadata (kept across restarts)
#   kafka-<port>.pid, kafka-<port>.log (previous run's log: kafka-<port>.log.1)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)

CACHE_ROOT=${ORDERTRIAGE_CACHE:-$REPO_ROOT/.cache}
[[ $CACHE_ROOT == /* ]] || CACHE_ROOT=$PWD/$CACHE_ROOT
KAFKA_DIR=$CACHE_ROOT/kafka
LIBS_DIR=$KAFKA_DIR/libs

POM=$SCRIPT_DIR/pom.xml
TEMPLATE=$SCRIPT_DIR/server.properties
LOG4J_CONFIG=$SCRIPT_DIR/log4j2.properties

PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-}
HOST=127.0.0.1
# Fixed cluster id: base64url("ordertriage-dev1"), 16 bytes like every Kafka Uuid. A local
# development cluster needs no random one, and a fixed id keeps re-formatting reproducible.
CLUSTER_ID=b3JkZXJ0cmlhZ2UtZGV2MQ
STOP_TIMEOUT=30

die() {
  echo "kafka.sh: error: $*" >&2
  exit 1
}
say() { echo "kafka.sh: $*"; }

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }

valid_port "$PORT" || die "KAFKA_PORT must be a TCP port number, got '$PORT'"
PORT=$((10#$PORT))
if [[ -z $CONTROLLER_PORT ]]; then
  CONTROLLER_PORT=$((PORT + 1))
fi
valid_port "$CONTROLLER_PORT" || die "KAFKA_CONTROLLER_PORT must be a TCP port number, got '$CONTROLLER_PORT'"
CONTROLLER_PORT=$((10#$CONTROLLER_PORT))
((PORT != CONTROLLER_PORT)) || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ (both $PORT)"

DATA_DIR=$KAFKA_DIR/data-$PORT
PROPS_FILE=$KAFKA_DIR/server-$PORT.properties
PID_FILE=$KAFKA_DIR/kafka-$PORT.pid
LOG_FILE=$KAFKA_DIR/kafka-$PORT.log
TOOLS_CONFIG=$KAFKA_DIR/tools-client.properties

if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
  JAVA=$JAVA_HOME/bin/java
else
  JAVA=java
fi

# ---------------------------------------------------------------------------------------------
# helpers

# tcp_open HOST PORT: true if HOST:PORT accepts a TCP connection (bash's /dev/tcp, bounded by
# `timeout` where it exists so that an unroutable external host cannot hang us).
tcp_open() {
  local host=$1 port=$2
  # shellcheck disable=SC2016 # $0/$1 are expanded by the inner bash
  if command -v timeout >/dev/null 2>&1; then
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
  else
    # shellcheck disable=SC2016
    bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
  fi
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
  local pid=$1 state
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
  [[ -n $state && $state != Z* ]]
}

# broker_pid: prints the pid of the broker this launcher started for PORT and returns 0, or
# returns 1 (removing a stale pid file, e.g. left by a crash or a reboot that reused the pid).
broker_pid() {
  local pid args
  [[ -f $PID_FILE ]] || return 1
  pid=$(<"$PID_FILE")
  if [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid"; then
    args=$(ps -o args= -p "$pid" 2>/dev/null || true)
    if [[ $args == *kafka.Kafka*"$PROPS_FILE"* ]]; then
      echo "$pid"
      return 0
    fi
  fi
  rm -f "$PID_FILE"
  return 1
}

who_listens() {
  # Best effort description of the process holding a port (for error messages).
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$1" 2>/dev/null | sed 's/^/    /' || true
  elif command -v lsof >/dev/null 2>&1; then
    lsof -nP -iTCP:"$1" -sTCP:LISTEN 2>/dev/null | sed 's/^/    /' || true
  fi
}

lock() {
  # lock FD FILE: serialise concurrent runs (two `start`s, a start racing a stop) where flock exists.
  local fd=$1 file=$2
  command -v flock >/dev/null 2>&1 || return 0
  eval "exec $fd>\"\$file\""
  flock -w 600 "$fd" || die "could not lock $file within 600 s"
}

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (install Java 17+ or set JAVA_HOME)"
  local line major
  line=$("$JAVA" -version 2>&1 | head -n 1)
  if [[ $line =~ \"1\.([0-9]+) ]]; then
    major=${BASH_REMATCH[1]}
  elif [[ $line =~ \"([0-9]+) ]]; then
    major=${BASH_REMATCH[1]}
  else
    die "cannot tell the version of $JAVA: $line"
  fi
  ((major >= 17)) || die "Kafka 4.2 needs Java 17 or newer; $JAVA is: $line"
}

# ensure_libs: resolve the jars of deploy/kafka/pom.xml into <cache>/kafka/libs when they are
# missing or the pom changed since (checksum kept in libs/.pom.cksum).
ensure_libs() {
  local want tmp
  want=$(cksum <"$POM")
  if [[ -f $LIBS_DIR/.pom.cksum && $(<"$LIBS_DIR/.pom.cksum") == "$want" ]]; then
    return 0
  fi
  mkdir -p "$KAFKA_DIR"
  lock 8 "$KAFKA_DIR/.libs.lock"
  # Another process may have resolved them while we waited for the lock.
  if [[ -f $LIBS_DIR/.pom.cksum && $(<"$LIBS_DIR/.pom.cksum") == "$want" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed once to fetch the Kafka jars into $LIBS_DIR"
  say "resolving Kafka jars from $POM into $LIBS_DIR (Maven)..."
  tmp=$KAFKA_DIR/libs.tmp.$$
  rm -rf "$tmp"
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DoutputDirectory="$tmp" >"$KAFKA_DIR/maven.log" 2>&1; then
    cat "$KAFKA_DIR/maven.log" >&2
    rm -rf "$tmp"
    die "Maven could not resolve $POM (output above, also in $KAFKA_DIR/maven.log)"
  fi
  ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || {
    rm -rf "$tmp"
    die "Maven ran but $tmp has no kafka_2.13 jar"
  }
  echo "$want" >"$tmp/.pom.cksum"
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  say "resolved $(find "$LIBS_DIR" -name '*.jar' | wc -l | tr -d ' ') jars"
}

# run_tool MAIN ARGS...: a Kafka command-line class, small heap, quick JIT, WARN logging.
run_tool() {
  local main=$1
  shift
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dordertriage.kafka.loglevel=WARN \
    -cp "$LIBS_DIR/*" "$main" "$@"
}

render_props() {
  local line tmp=$PROPS_FILE.tmp.$$
  : >"$tmp"
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line//@KAFKA_PORT@/"$PORT"}
    line=${line//@KAFKA_CONTROLLER_PORT@/"$CONTROLLER_PORT"}
    line=${line//@KAFKA_DATA_DIR@/"$DATA_DIR"}
    printf '%s\n' "$line" >>"$tmp"
  done <"$TEMPLATE"
  if grep -n '@[A-Z_]*@' "$tmp" >&2; then
    rm -f "$tmp"
    die "unknown placeholder(s) left in $TEMPLATE (lines above)"
  fi
  mv "$tmp" "$PROPS_FILE"
}

format_storage() {
  # First start only: a formatted directory has meta.properties. Never re-format existing data.
  [[ -f $DATA_DIR/meta.properties ]] && return 0
  mkdir -p "$DATA_DIR"
  say "formatting $DATA_DIR (cluster id $CLUSTER_ID)"
  run_tool kafka.tools.StorageTool format --cluster-id "$CLUSTER_ID" --config "$PROPS_FILE" \
    || die "formatting $DATA_DIR failed"
}

tail_log() {
  if [[ -f $LOG_FILE ]]; then
    echo "---- last $1 lines of $LOG_FILE ----" >&2
    tail -n "$1" "$LOG_FILE" >&2
    echo "----" >&2
  else
    echo "(no log at $LOG_FILE)" >&2
  fi
}

external_note() { say "KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP is set: using that external cluster, $1"; }

# external_reachable: true if any host:port of KAFKA_BOOTSTRAP accepts TCP connections.
external_reachable() {
  local entry host port
  local IFS=,
  for entry in $KAFKA_BOOTSTRAP; do
    entry=${entry//[[:space:]]/}
    entry=${entry#*://}
    [[ -n $entry ]] || continue
    if [[ $entry =~ ^\[(.*)\]:([0-9]+)$ ]] || [[ $entry =~ ^(.*):([0-9]+)$ ]]; then
      host=${BASH_REMATCH[1]}
      port=${BASH_REMATCH[2]}
    else
      host=$entry
      port=9092
    fi
    tcp_open "$host" "$port" && return 0
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
# commands

check_ports_free() {
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if tcp_open "$HOST" "$p"; then
      echo "kafka.sh: error: port $p on $HOST is already in use by another process" \
        "(not a broker started by this launcher from $KAFKA_DIR):" >&2
      who_listens "$p" >&2
      echo "kafka.sh: stop that process, or choose other ports with KAFKA_PORT / KAFKA_CONTROLLER_PORT," \
        "or point KAFKA_BOOTSTRAP at an existing cluster" >&2
      exit 1
    fi
  done
}

cmd_start() {
  if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
    external_note "not starting a local broker"
    return 0
  fi
  mkdir -p "$KAFKA_DIR"
  lock 9 "$KAFKA_DIR/.kafka-$PORT.lock"

  local pid
  if pid=$(broker_pid); then
    say "already running (pid $pid, $HOST:$PORT)"
    return 0
  fi
  check_ports_free

  check_java
  ensure_libs
  render_props
  format_storage
  # Again: fetching the jars can take a while, and something may have taken a port meanwhile.
  check_ports_free

  [[ -f $LOG_FILE ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  local heap_opts
  read -r -a heap_opts <<<"${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
  nohup "$JAVA" "${heap_opts[@]}" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dordertriage.kafka.loglevel=INFO \
    -cp "$LIBS_DIR/*" kafka.Kafka "$PROPS_FILE" \
    >>"$LOG_FILE" 2>&1 </dev/null 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  if ! pid_alive "$pid"; then
    tail_log 30
    die "the broker exited at once"
  fi
  say "started broker (pid $pid) on $HOST:$PORT (controller $HOST:$CONTROLLER_PORT)"
  say "log: $LOG_FILE — run '$0 wait-ready' to wait until it serves requests"
}

cmd_stop() {
  if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
    external_note "no local broker to stop"
    return 0
  fi
  [[ -d $KAFKA_DIR ]] || {
    say "not running (port $PORT)"
    return 0
  }
  lock 9 "$KAFKA_DIR/.kafka-$PORT.lock"
  local pid
  if ! pid=$(broker_pid); then
    say "not running (port $PORT)"
    return 0
  fi
  say "stopping broker (pid $pid, port $PORT)..."
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while pid_alive "$pid" && ((SECONDS <= deadline)); do
    sleep 0.2
  done
  if pid_alive "$pid"; then
    say "still running after ${STOP_TIMEOUT}s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while pid_alive "$pid" && ((SECONDS <= deadline)); do
      sleep 0.2
    done
    pid_alive "$pid" && die "pid $pid survived SIGKILL"
  fi
  rm -f "$PID_FILE"
  say "stopped"
}

cmd_status() {
  if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
    if external_reachable; then
      say "external cluster $KAFKA_BOOTSTRAP: reachable"
      return 0
    fi
    say "external cluster $KAFKA_BOOTSTRAP: not reachable"
    return 3
  fi
  local pid
  if pid=$(broker_pid); then
    echo "running pid=$pid port=$PORT controller_port=$CONTROLLER_PORT bootstrap=$HOST:$PORT log=$LOG_FILE"
    return 0
  fi
  echo "stopped port=$PORT controller_port=$CONTROLLER_PORT log=$LOG_FILE"
  return 3
}

cmd_wait_ready() {
  local timeout=${1:-90}
  [[ $timeout =~ ^[0-9]+$ ]] || die "wait-ready: timeout must be whole seconds, got '$timeout'"
  local start=$SECONDS deadline=$((SECONDS + timeout))

  if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
    until external_reachable; do
      if ((SECONDS > deadline)); then
        die "external cluster $KAFKA_BOOTSTRAP not reachable after ${timeout}s"
      fi
      sleep 0.5
    done
    say "external cluster $KAFKA_BOOTSTRAP accepts connections"
    return 0
  fi

  local pid
  if ! pid=$(broker_pid); then
    if [[ -f $LOG_FILE ]] && ! grep -q 'Kafka Server started' "$LOG_FILE"; then
      # Started but gone before it was ever up (bad JVM option, port grabbed meanwhile, ...).
      tail_log 30
      die "the broker on port $PORT is not running: it exited during start-up (log above)"
    fi
    die "no broker running on port $PORT (run '$0 start' first)"
  fi

  # 1. The broker logged the end of its start-up (KafkaRaftServer: "Kafka Server started", only
  #    after the broker is registered and unfenced) and its client port accepts connections.
  #    The log is rotated at every start, so a line from an earlier run cannot match.
  until grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null && tcp_open "$HOST" "$PORT"; do
    if ! pid_alive "$pid"; then
      tail_log 30
      rm -f "$PID_FILE"
      die "the broker (pid $pid) exited during start-up"
    fi
    if ((SECONDS > deadline)); then
      tail_log 30
      die "broker on $HOST:$PORT not ready after ${timeout}s"
    fi
    sleep 0.25
  done

  # 2. It answers an ApiVersions request over the client listener (kafka-broker-api-versions).
  printf 'request.timeout.ms=5000\nretry.backoff.ms=200\n' >"$TOOLS_CONFIG"
  until run_tool org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$HOST:$PORT" --command-config "$TOOLS_CONFIG" >/dev/null 2>&1; do
    if ! pid_alive "$pid"; then
      tail_log 30
      die "the broker (pid $pid) exited"
    fi
    if ((SECONDS > deadline)); then
      tail_log 30
      die "broker on $HOST:$PORT does not answer ApiVersions after ${timeout}s"
    fi
    sleep 0.5
  done
  say "ready: $HOST:$PORT (pid $pid, $((SECONDS - start))s)"
}

cmd_logs() {
  [[ -f $LOG_FILE ]] || die "no log yet at $LOG_FILE"
  case ${1:-} in
    -f | --follow) exec tail -n 100 -F "$LOG_FILE" ;;
    '') exec tail -n 100 "$LOG_FILE" ;;
    *)
      [[ $1 =~ ^[0-9]+$ ]] || die "logs: expected -f or a number of lines, got '$1'"
      exec tail -n "$1" "$LOG_FILE"
      ;;
  esac
}

cmd_run_class() {
  (($# >= 1)) || die "run-class: expected a main class, e.g. org.apache.kafka.tools.TopicCommand"
  check_java
  ensure_libs
  local main=$1
  shift
  run_tool "$main" "$@"
}

usage() {
  sed -n '2,/^set -euo pipefail/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

main() {
  local cmd=${1:-help}
  (($# > 0)) && shift
  case $cmd in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    wait-ready) cmd_wait_ready "$@" ;;
    logs) cmd_logs "$@" ;;
    run-class) cmd_run_class "$@" ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
