#!/usr/bin/env bash
# `make acls`: the least-privilege ACLs of streams/kafka/acls.py on the secure local broker
# (KAFKA_SECURITY=sasl_ssl, KAFKA_PORT), applied as the launcher's super user `admin`. Any other
# cluster: run `python -m streams.kafka.acls` with a super user's ORDERTRIAGE_BROKER_* settings.
# Extra arguments go to it (--dry-run, --worker USER, --rules USER, --reader USER).
set -euo pipefail
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
env_lines=$(KAFKA_SECURITY=sasl_ssl "$SCRIPT_DIR/kafka.sh" client-env admin)
set -a
# shellcheck disable=SC1090
source <(printf '%s\n' "$env_lines")
set +a
exec "$REPO_ROOT/.venv/bin/python" -m streams.kafka.acls "$@"
