#!/usr/bin/env bash
# The whole test suite: unit tests, then the end-to-end suite against a real API server.
# The e2e cluster is the local control plane (built from source once per machine, cached in
# ${NETFIX_CACHE:-~/.cache/kubectl-netfix}); set NETFIX_E2E_BACKEND=kind where Docker exists.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pytest tests "$@"

backend="${NETFIX_E2E_BACKEND:-local}"
bash e2e/cluster.sh up "$backend"
trap 'bash e2e/cluster.sh down "$backend"' EXIT
eval "$(bash e2e/cluster.sh env "$backend")"
python -m pytest e2e "$@"
