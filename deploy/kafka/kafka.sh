#!/usr/bin/env bash
# Local Kafka 4.2 (KRaft, broker + controller in one JVM) for development and tests: one broker by
# default, or a three-node cluster with KAFKA_BROKERS=3.
#
#   deploy/kafka/kafka.sh start                 fetch the jars (Maven) if needed, format storage on
#                                               first start, start the broker(s) in the background
#   deploy/kafka/kafka.sh wait-ready [SECONDS]  wait until the broker serves requests (default 90 s);
#                                               a cluster: every node serves and the quorum has a leader
#   deploy/kafka/kafka.sh status                running/stopped, pid, ports (exit 0 running, 3 not;
#                                               a cluster: one line per node, exit 4 if only some run)
#   deploy/kafka/kafka.sh stop                  SIGTERM, up to 30 s, then SIGKILL (a cluster: all nodes)
#   deploy/kafka/kafka.sh logs [-f | LINES]     last LINES (default 100) lines of the log, -f follows
#                                               (a cluster: every node's; `logs --node N ...` one node's)
#   deploy/kafka/kafka.sh run-class MAIN [ARG]  run a Kafka tool class on the broker's class path, e.g.
#       run-class org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#   deploy/kafka/kafka.sh client-env [USER]     KAFKA_SECURITY=sasl_ssl: the ORDERTRIAGE_BROKER_* lines
#                                               a client logging in as USER needs (default the worker)
#
# Cluster only (KAFKA_BROKERS=3), for fault scenarios; N is the node id, 1, 2 or 3:
#   deploy/kafka/kafka.sh kill-node N           SIGKILL node N (no controlled shutdown)
#   deploy/kafka/kafka.sh stop-node N           SIGTERM node N (controlled shutdown), up to 30 s
#   deploy/kafka/kafka.sh start-node N          start node N again (wait-ready then waits for it)
#   deploy/kafka/kafka.sh leader TOPIC PART     print the id of the node leading TOPIC's partition PART
#                                               (exit 1 if it has no leader or the topic is unknown)
#
# Environment:
#   KAFKA_BROKERS          1 (default): one broker; 3: a cluster of three nodes, each a broker and a
#                          voter of a 3-voter controller quorum, replication factor 3 and
#                          min.insync.replicas 2 by default (deploy/kafka/cluster.properties)
#   KAFKA_PORT             client port (default 9092), listening on 127.0.0.1 only; a cluster's node N
#                          listens on KAFKA_PORT + 2(N-1) for clients, the next port for its controller
#                          (9092/9093, 9094/9095, 9096/9097 by default)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT + 1); single broker only
#   KAFKA_SECURITY         plaintext (default) or sasl_ssl: the single broker with TLS, SCRAM-SHA-512
#                          and ACLs (deploy/kafka/secure.properties; docs/security.md). Its data
#                          and generated secrets live apart, in <cache>/kafka/secure-<port>/
#                          (data/, secrets/: ca.pem, broker.pem, <user>.password, admin.properties)
#   KAFKA_BOOTSTRAP        host:port[,host:port] of an external cluster: start/stop do nothing,
#                          wait-ready/status only check that it accepts TCP connections
#   ORDERTRIAGE_CACHE      cache folder (default <repo>/.cache); this script uses <cache>/kafka/
#   KAFKA_HEAP_OPTS        heap of each broker (default "-Xmx512m -Xms256m"; a cluster's nodes
#                          "-Xmx384m -Xms128m")
#   JAVA_HOME              Java 17+ to use (default: java on PATH)
#
# Files, all in <cache>/kafka/:
#   libs/                           jars resolved from deploy/kafka/pom.xml
#   server-<port>.properties        deploy/kafka/server.properties rendered for this port
#   data-<port>/                    topic data and KRaft metadata (kept across restarts)
#   kafka-<port>.pid, kafka-<port>.log (previous run's log: kafka-<port>.log.1)
#   cluster-<port>/                 a cluster's files: server-<N>.properties, data-<N>/,
#                                   kafka-<N>.pid, kafka-<N>.log for its nodes N = 1, 2, 3
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
BROKERS=${KAFKA_BROKERS:-1}
HOST=127.0.0.1
# Fixed cluster id: base64url("ordertriage-dev1"), 16 bytes like every Kafka Uuid. A local
# development cluster needs no random one, and a fixed id keeps re-formatting reproducible.
CLUSTER_ID=b3JkZXJ0cmlhZ2UtZGV2MQ
STOP_TIMEOUT=30
SECURITY=${KAFKA_SECURITY:-plaintext}
# The SCRAM users of the secure broker: the launcher (super user), the worker, the CLI's rule
# publisher, a read-only consumer, the notifier, and a guest that no ACL names
# (streams/kafka/acls.py). Users are made at format time: a new one needs a fresh data dir.
SCRAM_USERS=(admin ordertriage-worker ordertriage-rules ordertriage-reader ordertriage-notify ordertriage-guest)

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
SECRETS_DIR=
case $SECURITY in
  plaintext) ;;
  sasl_ssl)
    [[ $BROKERS == 1 ]] || die "KAFKA_SECURITY=sasl_ssl runs the single broker only (KAFKA_BROKERS=1)"
    DATA_DIR=$KAFKA_DIR/secure-$PORT/data
    SECRETS_DIR=$KAFKA_DIR/secure-$PORT/secrets
    TOOLS_CONFIG=$SECRETS_DIR/admin.properties
    ;;
  *) die "KAFKA_SECURITY must be plaintext (the default) or sasl_ssl, got '$SECURITY'" ;;
esac
NODE_ID=1
QUORUM_VOTERS=

# A cluster: node N's ports and files are chosen by select_node N (below), which sets PORT,
# CONTROLLER_PORT, DATA_DIR, PROPS_FILE, PID_FILE, LOG_FILE, so that the single-broker helpers
# (broker_pid, render_props, format_storage, spawn_broker, ...) work on one node at a time.
case $BROKERS in
  1) ;;
  3)
    [[ -z ${KAFKA_CONTROLLER_PORT:-} ]] \
      || die "KAFKA_CONTROLLER_PORT applies to the single broker only; with KAFKA_BROKERS=3 node N" \
        "uses KAFKA_PORT + 2(N-1) for clients and the port after it for its controller"
    BASE_PORT=$PORT
    ((BASE_PORT + 5 <= 65535)) || die "KAFKA_PORT $BASE_PORT leaves no room for 3 nodes (6 ports)"
    TEMPLATE=$SCRIPT_DIR/cluster.properties
    # base64url("ordertriage-clu3"): not the single broker's id, so data of one cannot pass as
    # the other's.
    CLUSTER_ID=b3JkZXJ0cmlhZ2UtY2x1Mw
    CLUSTER_DIR=$KAFKA_DIR/cluster-$BASE_PORT
    NODES=(1 2 3)
    QUORUM_VOTERS=
    CLUSTER_BOOTSTRAP=
    for n in "${NODES[@]}"; do
      QUORUM_VOTERS+="${QUORUM_VOTERS:+,}$n@$HOST:$((BASE_PORT + 2 * (n - 1) + 1))"
      CLUSTER_BOOTSTRAP+="${CLUSTER_BOOTSTRAP:+,}$HOST:$((BASE_PORT + 2 * (n - 1)))"
    done
    ;;
  *) die "KAFKA_BROKERS must be 1 (one broker, the default) or 3 (a three-node cluster), got '$BROKERS'" ;;
esac

# select_node N: point the per-broker globals at node N of the cluster.
select_node() {
  local n=$1
  [[ $n =~ ^[123]$ ]] || die "node must be 1, 2 or 3, got '$n'"
  NODE_ID=$n
  PORT=$((BASE_PORT + 2 * (n - 1)))
  CONTROLLER_PORT=$((PORT + 1))
  DATA_DIR=$CLUSTER_DIR/data-$n
  PROPS_FILE=$CLUSTER_DIR/server-$n.properties
  PID_FILE=$CLUSTER_DIR/kafka-$n.pid
  LOG_FILE=$CLUSTER_DIR/kafka-$n.log
}

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

# pid_alive PID: the process exists and is not a zombie. A killed JVM's main thread turns zombie
# while its other threads still exit (state "Zl"), and those still hold its sockets: alive.
pid_alive() {
  local pid=$1 state
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
  [[ -n $state && ($state != Z* || $state == *l*) ]]
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
  local line key tmp=$PROPS_FILE.tmp.$$ overlay=$SCRIPT_DIR/secure.properties
  local -A overridden=()
  ( umask 077 && : >"$tmp" )
  if [[ $SECURITY == sasl_ssl ]]; then
    while IFS= read -r line; do
      [[ $line =~ ^([a-z][^=]*)= ]] && overridden[${BASH_REMATCH[1]}]=1
    done <"$overlay"
  fi
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ ^([a-z][^=]*)= ]]; then
      key=${BASH_REMATCH[1]}
      [[ -z ${overridden[$key]:-} ]] || continue
    fi
    line=${line//@KAFKA_PORT@/"$PORT"}
    line=${line//@KAFKA_CONTROLLER_PORT@/"$CONTROLLER_PORT"}
    line=${line//@KAFKA_DATA_DIR@/"$DATA_DIR"}
    line=${line//@KAFKA_NODE_ID@/"$NODE_ID"}
    line=${line//@KAFKA_QUORUM_VOTERS@/"$QUORUM_VOTERS"}
    printf '%s\n' "$line" >>"$tmp"
  done <"$TEMPLATE"
  if [[ $SECURITY == sasl_ssl ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      line=${line//@KAFKA_PORT@/"$PORT"}
      line=${line//@KAFKA_CONTROLLER_PORT@/"$CONTROLLER_PORT"}
      line=${line//@KAFKA_SECRETS_DIR@/"$SECRETS_DIR"}
      line=${line//@KAFKA_ADMIN_PASSWORD@/"$(<"$SECRETS_DIR/admin.password")"}
      printf '%s\n' "$line" >>"$tmp"
    done <"$overlay"
  fi
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
  local scram=() user
  if [[ $SECURITY == sasl_ssl ]]; then
    for user in "${SCRAM_USERS[@]}"; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(<"$SECRETS_DIR/$user.password")]")
    done
  fi
  run_tool kafka.tools.StorageTool format --cluster-id "$CLUSTER_ID" --config "$PROPS_FILE" \
    "${scram[@]}" >/dev/null || die "formatting $DATA_DIR failed"
}

# ensure_secrets: the secure broker's CA, certificate, passwords and the launcher's own client
# config, made once (deploy/kafka/credentials.py, Python's cryptography from the project venv).
ensure_secrets() {
  [[ $SECURITY == sasl_ssl ]] || return 0
  local python=$REPO_ROOT/.venv/bin/python
  [[ -x $python ]] || python=python3
  "$python" -c 'import cryptography' 2>/dev/null \
    || die "KAFKA_SECURITY=sasl_ssl needs Python's cryptography to make its certificates: run 'make install'"
  "$python" "$SCRIPT_DIR/credentials.py" "$SECRETS_DIR" "${SCRAM_USERS[@]}" \
    || die "could not create the secrets in $SECRETS_DIR"
  ( umask 077 && cat >"$TOOLS_CONFIG" <<EOF_PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(<"$SECRETS_DIR/admin.password")";
ssl.truststore.type=PEM
ssl.truststore.location=$SECRETS_DIR/ca.pem
request.timeout.ms=5000
retry.backoff.ms=200
EOF_PROPS
  )
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
  ensure_secrets
  render_props
  format_storage
  # Again: fetching the jars can take a while, and something may have taken a port meanwhile.
  check_ports_free

  spawn_broker "${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
  say "started broker (pid $SPAWNED_PID) on $HOST:$PORT (controller $HOST:$CONTROLLER_PORT)"
  say "log: $LOG_FILE — run '$0 wait-ready' to wait until it serves requests"
}

# spawn_broker HEAP_OPTS: start the broker of PROPS_FILE in the background (pid in PID_FILE and
# SPAWNED_PID), the previous log rotated to LOG_FILE.1.
spawn_broker() {
  local heap_opts pid
  [[ -f $LOG_FILE ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  read -r -a heap_opts <<<"$1"
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
  SPAWNED_PID=$pid
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
    echo "running pid=$pid port=$PORT controller_port=$CONTROLLER_PORT bootstrap=$HOST:$PORT security=$SECURITY log=$LOG_FILE"
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
  [[ $SECURITY == sasl_ssl ]] || printf 'request.timeout.ms=5000\nretry.backoff.ms=200\n' >"$TOOLS_CONFIG"
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

# client-env [USER]: the settings a client of the secure broker needs, as VAR=value lines
# (e.g. `set -a; source <(deploy/kafka/kafka.sh client-env ordertriage-worker); set +a`).
cmd_client_env() {
  [[ $SECURITY == sasl_ssl ]] || die "client-env: the local broker is plaintext (set KAFKA_SECURITY=sasl_ssl)"
  local user=${1:-ordertriage-worker}
  [[ -f $SECRETS_DIR/$user.password ]] \
    || die "client-env: no password for '$user' in $SECRETS_DIR (start the secure broker first; users: ${SCRAM_USERS[*]})"
  echo "ORDERTRIAGE_BROKER_TLS=true"
  echo "ORDERTRIAGE_BROKER_SASL_MECHANISM=SCRAM-SHA-512"
  echo "ORDERTRIAGE_BROKER_SASL_USERNAME=$user"
  echo "ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE=$SECRETS_DIR/$user.password"
  echo "ORDERTRIAGE_BROKER_CA_FILE=$SECRETS_DIR/ca.pem"
}

cmd_run_class() {
  (($# >= 1)) || die "run-class: expected a main class, e.g. org.apache.kafka.tools.TopicCommand"
  check_java
  ensure_libs
  local main=$1
  shift
  run_tool "$main" "$@"
}

# ---------------------------------------------------------------------------------------------
# cluster commands (KAFKA_BROKERS=3)

CLUSTER_HEAP_DEFAULT="-Xmx384m -Xms128m"

need_cluster() {
  [[ $BROKERS == 3 ]] || die "$1 needs the three-node cluster: set KAFKA_BROKERS=3"
  [[ -z ${KAFKA_BOOTSTRAP:-} ]] || die "$1 works on the local cluster only, but KAFKA_BOOTSTRAP is set"
}

# start_one: start the selected node unless it runs (caller holds the cluster lock and has
# checked Java and the jars).
start_one() {
  local pid
  if pid=$(broker_pid); then
    say "node $NODE_ID already running (pid $pid, $HOST:$PORT)"
    return 0
  fi
  check_ports_free
  render_props
  format_storage
  spawn_broker "${KAFKA_HEAP_OPTS:-$CLUSTER_HEAP_DEFAULT}"
  say "started node $NODE_ID (pid $SPAWNED_PID) on $HOST:$PORT (controller $HOST:$CONTROLLER_PORT)"
}

cluster_start() {
  if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
    external_note "not starting a local cluster"
    return 0
  fi
  mkdir -p "$CLUSTER_DIR"
  lock 9 "$CLUSTER_DIR/.lock"
  local n pid
  for n in "${NODES[@]}"; do
    select_node "$n"
    broker_pid >/dev/null || check_ports_free
  done
  check_java
  ensure_libs
  for n in "${NODES[@]}"; do
    select_node "$n"
    start_one
  done
  say "bootstrap: $CLUSTER_BOOTSTRAP — logs in $CLUSTER_DIR; run '$0 wait-ready' to wait for all three"
}

cluster_start_node() {
  need_cluster start-node
  (($# == 1)) || die "start-node: expected a node id (1, 2 or 3)"
  select_node "$1"
  mkdir -p "$CLUSTER_DIR"
  lock 9 "$CLUSTER_DIR/.lock"
  check_java
  ensure_libs
  start_one
}

# terminate SIGNAL PID...: send SIGNAL, wait up to STOP_TIMEOUT s for every pid to exit, then
# SIGKILL what is left.
terminate() {
  local sig=$1 pid left
  shift
  kill -"$sig" "$@" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    left=()
    for pid in "$@"; do pid_alive "$pid" && left+=("$pid"); done
    ((${#left[@]} == 0)) && return 0
    ((SECONDS <= deadline)) || break
    sleep 0.2
  done
  say "still running after ${STOP_TIMEOUT}s: sending SIGKILL to ${left[*]}"
  kill -KILL "${left[@]}" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  for pid in "${left[@]}"; do
    while pid_alive "$pid"; do
      ((SECONDS <= deadline)) || die "pid $pid survived SIGKILL"
      sleep 0.2
    done
  done
}

cluster_stop() {
  if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
    external_note "no local cluster to stop"
    return 0
  fi
  [[ -d $CLUSTER_DIR ]] || {
    say "not running (cluster on port $BASE_PORT)"
    return 0
  }
  lock 9 "$CLUSTER_DIR/.lock"
  local n pid pids=() files=()
  for n in "${NODES[@]}"; do
    select_node "$n"
    if pid=$(broker_pid); then
      pids+=("$pid")
      files+=("$PID_FILE")
    fi
  done
  if ((${#pids[@]} == 0)); then
    say "not running (cluster on port $BASE_PORT)"
    return 0
  fi
  # All at once: stopped one by one, the last node would wait in vain for a controller quorum
  # to acknowledge its controlled shutdown.
  say "stopping ${#pids[@]} node(s) (pids ${pids[*]})..."
  terminate TERM "${pids[@]}"
  rm -f "${files[@]}"
  say "stopped"
}

cluster_stop_node() {
  need_cluster "$1"
  local sig=$2
  shift 2
  (($# == 1)) || die "expected a node id (1, 2 or 3)"
  select_node "$1"
  [[ -d $CLUSTER_DIR ]] || die "no cluster files in $CLUSTER_DIR (start it first)"
  lock 9 "$CLUSTER_DIR/.lock"
  local pid
  pid=$(broker_pid) || die "node $NODE_ID is not running"
  if [[ $sig == KILL ]]; then
    kill -KILL "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while pid_alive "$pid"; do
      ((SECONDS <= deadline)) || die "node $NODE_ID (pid $pid) survived SIGKILL for 10 s"
      sleep 0.1
    done
    say "killed node $NODE_ID (pid $pid, SIGKILL)"
  else
    terminate TERM "$pid"
    say "stopped node $NODE_ID (pid $pid)"
  fi
  rm -f "$PID_FILE"
  local deadline=$((SECONDS + 10))
  while tcp_open "$HOST" "$PORT" || tcp_open "$HOST" "$CONTROLLER_PORT"; do
    ((SECONDS <= deadline)) || die "node $NODE_ID is gone but $HOST:$PORT or :$CONTROLLER_PORT still accepts connections"
    sleep 0.1
  done
}

cluster_status() {
  if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
    cmd_status
    return
  fi
  local n pid up=0
  for n in "${NODES[@]}"; do
    select_node "$n"
    if pid=$(broker_pid); then
      up=$((up + 1))
      echo "node=$n running pid=$pid port=$PORT controller_port=$CONTROLLER_PORT log=$LOG_FILE"
    else
      echo "node=$n stopped port=$PORT controller_port=$CONTROLLER_PORT log=$LOG_FILE"
    fi
  done
  echo "bootstrap=$CLUSTER_BOOTSTRAP running=$up/${#NODES[@]}"
  ((up == ${#NODES[@]})) && return 0
  ((up == 0)) && return 3
  return 4
}

# running_bootstrap: host:port of the nodes that run, comma-separated (empty if none).
running_bootstrap() {
  local n out=
  for n in "${NODES[@]}"; do
    select_node "$n"
    broker_pid >/dev/null && out+="${out:+,}$HOST:$PORT"
  done
  echo "$out"
}

cluster_wait_ready() {
  if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
    cmd_wait_ready "$@"
    return
  fi
  local timeout=${1:-90}
  [[ $timeout =~ ^[0-9]+$ ]] || die "wait-ready: timeout must be whole seconds, got '$timeout'"
  local start=$SECONDS deadline=$((SECONDS + timeout))
  local n pid pids=()
  for n in "${NODES[@]}"; do
    select_node "$n"
    if ! pid=$(broker_pid); then
      if [[ -f $LOG_FILE ]] && ! grep -q 'Kafka Server started' "$LOG_FILE"; then
        tail_log 30
        die "node $n (port $PORT) is not running: it exited during start-up (log above)"
      fi
      die "node $n (port $PORT) is not running (run '$0 start' or '$0 start-node $n')"
    fi
    pids[n]=$pid
  done

  # 1. Every node logged the end of its start-up (registered with the quorum and unfenced) and
  #    its client port accepts connections.
  local waiting
  while :; do
    waiting=()
    for n in "${NODES[@]}"; do
      select_node "$n"
      if ! pid_alive "${pids[n]}"; then
        tail_log 30
        rm -f "$PID_FILE"
        die "node $n (pid ${pids[n]}) exited during start-up (log above)"
      fi
      grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null && tcp_open "$HOST" "$PORT" \
        || waiting+=("$n")
    done
    ((${#waiting[@]} == 0)) && break
    if ((SECONDS > deadline)); then
      select_node "${waiting[0]}"
      tail_log 30
      die "node(s) ${waiting[*]} not ready after ${timeout}s (log of node ${waiting[0]} above)"
    fi
    sleep 0.25
  done

  # 2. The cluster's metadata lists all three brokers (ApiVersions answered by each), and the
  #    controller quorum has a leader.
  [[ $SECURITY == sasl_ssl ]] || printf 'request.timeout.ms=5000\nretry.backoff.ms=200\n' >"$TOOLS_CONFIG"
  local out missing leader
  while :; do
    missing=()
    out=$(run_tool org.apache.kafka.tools.BrokerApiVersionsCommand \
      --bootstrap-server "$CLUSTER_BOOTSTRAP" --command-config "$TOOLS_CONFIG" 2>/dev/null) || out=
    for n in "${NODES[@]}"; do
      [[ $out == *"(id: $n "* ]] || missing+=("$n")
    done
    leader=
    if ((${#missing[@]} == 0)); then
      leader=$(quorum_leader) || leader=
      [[ -n $leader ]] && break
    fi
    for n in "${NODES[@]}"; do
      pid_alive "${pids[n]}" || die "node $n (pid ${pids[n]}) exited"
    done
    if ((SECONDS > deadline)); then
      if ((${#missing[@]} > 0)); then
        die "node(s) ${missing[*]} do not answer ApiVersions after ${timeout}s"
      fi
      die "the controller quorum has no leader after ${timeout}s"
    fi
    sleep 0.5
  done
  say "ready: $CLUSTER_BOOTSTRAP (3 nodes, quorum leader node $leader, $((SECONDS - start))s)"
}

# quorum_leader: prints the node id leading the KRaft controller quorum (fails if none).
quorum_leader() {
  local bootstrap id
  bootstrap=$(running_bootstrap)
  [[ -n $bootstrap ]] || return 1
  id=$(run_tool org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$bootstrap" \
    --command-config "$TOOLS_CONFIG" describe --status 2>/dev/null \
    | awk '$1 == "LeaderId:" { print $2 }') || return 1
  [[ $id =~ ^[0-9]+$ ]] || return 1
  echo "$id"
}

cluster_leader() {
  need_cluster leader
  (($# == 2)) || die "leader: expected TOPIC PARTITION"
  local topic=$1 partition=$2 bootstrap out leader
  [[ $partition =~ ^[0-9]+$ ]] || die "leader: partition must be a number, got '$partition'"
  check_java
  ensure_libs
  bootstrap=$(running_bootstrap)
  [[ -n $bootstrap ]] || die "no node of the cluster on port $BASE_PORT is running"
  [[ $SECURITY == sasl_ssl ]] || printf 'request.timeout.ms=5000\nretry.backoff.ms=200\n' >"$TOOLS_CONFIG"
  out=$(run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
    --command-config "$TOOLS_CONFIG" --describe --topic "$topic" 2>&1) \
    || die "could not describe topic '$topic': $out"
  # Lines like: "Topic: t  Partition: 0  Leader: 2  Replicas: 2,3,1  Isr: 2,3,1 ..."
  leader=$(awk -v p="$partition" '{
      for (i = 1; i < NF; i++) if ($i == "Partition:" && $(i + 1) == p) found = 1
      if (found) { for (i = 1; i < NF; i++) if ($i == "Leader:") { print $(i + 1); exit } }
    }' <<<"$out")
  [[ -n $leader ]] || die "topic '$topic' has no partition $partition"
  [[ $leader =~ ^[0-9]+$ ]] || die "partition $partition of '$topic' has no leader (Leader: $leader)"
  echo "$leader"
}

cluster_logs() {
  if [[ ${1:-} == --node ]]; then
    (($# >= 2)) || die "logs --node: expected a node id (1, 2 or 3)"
    select_node "$2"
    shift 2
    cmd_logs "$@"
  fi
  local n files=()
  for n in "${NODES[@]}"; do
    select_node "$n"
    [[ -f $LOG_FILE ]] && files+=("$LOG_FILE")
  done
  ((${#files[@]} > 0)) || die "no logs yet in $CLUSTER_DIR"
  case ${1:-} in
    -f | --follow) exec tail -n 100 -F "${files[@]}" ;;
    '') exec tail -n 100 "${files[@]}" ;;
    *)
      [[ $1 =~ ^[0-9]+$ ]] || die "logs: expected -f, a number of lines or --node N, got '$1'"
      exec tail -n "$1" "${files[@]}"
      ;;
  esac
}

usage() {
  sed -n '2,/^set -euo pipefail/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

main() {
  local cmd=${1:-help}
  (($# > 0)) && shift
  if [[ $BROKERS == 3 ]]; then
    case $cmd in
      start) cluster_start "$@" ;;
      stop) cluster_stop "$@" ;;
      status) cluster_status "$@" ;;
      wait-ready) cluster_wait_ready "$@" ;;
      logs) cluster_logs "$@" ;;
      start-node) cluster_start_node "$@" ;;
      stop-node) cluster_stop_node stop-node TERM "$@" ;;
      kill-node) cluster_stop_node kill-node KILL "$@" ;;
      leader) cluster_leader "$@" ;;
      run-class) cmd_run_class "$@" ;;
      help | -h | --help) usage ;;
      *)
        usage >&2
        exit 2
        ;;
    esac
    return
  fi
  case $cmd in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    wait-ready) cmd_wait_ready "$@" ;;
    logs) cmd_logs "$@" ;;
    run-class) cmd_run_class "$@" ;;
    client-env) cmd_client_env "$@" ;;
    start-node | stop-node | kill-node | leader) need_cluster "$cmd" ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
