#!/usr/bin/env bash
# Bring up / tear down the Kubernetes cluster the e2e suite runs against.
#
#   e2e/cluster.sh up    kind|local   create the cluster (idempotent) and apply e2e/cluster-addons.yaml
#   e2e/cluster.sh down  kind|local   delete the cluster and all its processes
#   e2e/cluster.sh env   kind|local   print `export KUBECONFIG=...` (use: eval "$(e2e/cluster.sh env local)")
#   e2e/cluster.sh build local        only build/cache the local binaries (done by `up local` too)
#   e2e/cluster.sh readonly-kubeconfig kind|local
#                                     print the path of a kubeconfig for a user bound to the
#                                     `view` ClusterRole (cluster must be up)
#   e2e/cluster.sh status kind|local  say whether the cluster is up
#
# `local` needs no Docker and no network but the Go module proxy: it builds etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl (one pinned Kubernetes release) and kwok/kwokctl
# from source once per machine into ${NETFIX_CACHE:-$HOME/.cache/kubectl-netfix}, then runs them
# with `kwokctl --runtime binary`; kwok fakes the nodes and the pods' kubelets.
# `kind` needs Docker and the `kind` CLI.
set -euo pipefail

# ---- pinned versions (change together; kwok's supported_releases.txt lists what it knows) ----
K8S_VERSION="${NETFIX_K8S_VERSION:-v1.36.3}"   # k8s.io/kubernetes module version
KWOK_VERSION="v0.8.0"                          # sigs.k8s.io/kwok (supports up to 1.36)
ETCD_VERSION="v3.6.8"                          # go.etcd.io/etcd/server/v3, as k8s v1.36.3's go.mod
STAGING_VERSION="v0.${K8S_VERSION#v1.}"        # k8s.io/api etc.: v1.36.3 -> v0.36.3

# NETFIX_CLUSTER_NAME names a second cluster beside the e2e one (bench/live.py uses "netfix-bench");
# its kubeconfigs get the name as a suffix.
CLUSTER_NAME="${NETFIX_CLUSTER_NAME:-netfix-e2e}"
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ADDONS="${E2E_DIR}/cluster-addons.yaml"
CACHE_ROOT="${NETFIX_CACHE:-$HOME/.cache/kubectl-netfix}"
K8S_DIR="${CACHE_ROOT}/k8s-${K8S_VERSION}"
BIN_DIR="${K8S_DIR}/bin"
BUILD_DIR="${K8S_DIR}/build"
STAMP="${BIN_DIR}/.complete"
# kwokctl keeps each cluster's state (pki, etcd data, logs, pids) under KWOK_WORKDIR.
KWOK_WORKDIR="${CACHE_ROOT}/kwok"
KUBECONFIG_SUFFIX=""
[[ "$CLUSTER_NAME" == netfix-e2e ]] || KUBECONFIG_SUFFIX="-${CLUSTER_NAME}"
LOCAL_KUBECONFIG="${CACHE_ROOT}/kubeconfig-local${KUBECONFIG_SUFFIX}"
KIND_KUBECONFIG="${CACHE_ROOT}/kubeconfig-kind${KUBECONFIG_SUFFIX}"
LOCAL_NODES="${NETFIX_E2E_NODES:-2}"
LOCAL_BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl)

log() { printf '[cluster.sh] %s\n' "$*" >&2; }
die() { printf '[cluster.sh] error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ------------------------------------------------------------------------------------------
# local: build once per machine
# ------------------------------------------------------------------------------------------

stamp_content() {
  printf 'kubernetes=%s kwok=%s etcd=%s\n' "$K8S_VERSION" "$KWOK_VERSION" "$ETCD_VERSION"
}

binaries_ready() {
  [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$(stamp_content)" ]] || return 1
  local b
  for b in "${LOCAL_BINARIES[@]}"; do [[ -x "${BIN_DIR}/$b" ]] || return 1; done
}

go_env() {
  # Builds run outside any workspace, may fetch modules from the proxy, and use both cores.
  export GOWORK=off GO111MODULE=on CGO_ENABLED=0
  export GOFLAGS="-mod=mod -buildvcs=false -trimpath -p=${NETFIX_BUILD_JOBS:-2}"
  # GOTOOLCHAIN stays as the user has it (auto by default: an older go fetches the needed one
  # through the module proxy).
}

# write_module DIR GO_MOD: a throwaway main module (in the cache) whose go.mod pins what we build.
write_module() {
  local dir="$1" body="$2"
  mkdir -p "$dir"
  printf '%s\n' "$body" > "${dir}/go.mod"
}

build_kubernetes() {
  local dir="${BUILD_DIR}/kubernetes" staging replaces="" m
  # k8s.io/kubernetes's go.mod points its staging modules at ./staging/...; a dependent module
  # must replace them with the published v0.X.Y versions.
  staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
    cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
    cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice
    externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl
    kubelet metrics mount-utils pod-security-admission sample-apiserver sample-controller streaming)
  for m in "${staging[@]}"; do
    replaces+="	k8s.io/${m} => k8s.io/${m} ${STAGING_VERSION}"$'\n'
  done
  write_module "$dir" "module netfix.local/k8s-build

go 1.26.0

godebug default=go1.26

require k8s.io/kubernetes ${K8S_VERSION}

replace (
${replaces})"

  # The version strings kube-apiserver's /version and `kubectl version` report (as hack/lib/version.sh sets them).
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local build_date
  build_date="$(go_mod_time k8s.io/kubernetes "$K8S_VERSION")"
  local ld="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ld+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${build_date} -X ${pkg}.gitCommit="
  done

  log "building Kubernetes ${K8S_VERSION} (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) ..."
  (cd "$dir" && go mod download k8s.io/kubernetes && \
    nice -n 10 go build -ldflags "$ld" -o "${BIN_DIR}/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  local dir="${BUILD_DIR}/etcd"
  write_module "$dir" "module netfix.local/etcd-build

go 1.24.0

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}"
  log "building etcd ${ETCD_VERSION} ..."
  (cd "$dir" && nice -n 10 go build -ldflags "-s -w" -o "${BIN_DIR}/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  local dir="${BUILD_DIR}/kwok"
  write_module "$dir" "module netfix.local/kwok-build

go 1.26.0

require sigs.k8s.io/kwok ${KWOK_VERSION}"
  local ld="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION#v}"
  log "building kwok and kwokctl ${KWOK_VERSION} ..."
  (cd "$dir" && nice -n 10 go build -ldflags "$ld" -o "${BIN_DIR}/" \
    sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl)
}

# go_mod_time MODULE VERSION: the release time the proxy records, used as the build date.
go_mod_time() {
  local t
  t="$(cd "${BUILD_DIR}/kubernetes" && go list -m -json "$1@$2" 2>/dev/null | sed -n 's/.*"Time": "\([^"]*\)".*/\1/p' | head -n1)"
  printf '%s' "${t:-1970-01-01T00:00:00Z}"
}

# built COMPONENT VERSION / mark_built COMPONENT VERSION: per-component stamps, written only after
# a build step succeeded, so an interrupted or re-pinned build redoes exactly what is missing.
built() { [[ -f "${BIN_DIR}/.built-$1-$2" ]]; }
mark_built() { touch "${BIN_DIR}/.built-$1-$2"; }

build_local() {
  if binaries_ready; then
    log "binaries for Kubernetes ${K8S_VERSION} already built in ${BIN_DIR}"
    return 0
  fi
  command -v go >/dev/null || die "the local backend builds Kubernetes from source and needs Go (>= 1.26) on PATH"
  go_env
  mkdir -p "$BIN_DIR" "$BUILD_DIR"
  rm -f "$STAMP"
  log "first run on this machine: building binaries from source into ${BIN_DIR}"
  log "(about 10 minutes on 2 cores; later runs reuse them; go's module and build caches help too)"
  local start=$SECONDS b
  built etcd "$ETCD_VERSION" || { build_etcd; mark_built etcd "$ETCD_VERSION"; }
  built kwok "$KWOK_VERSION" || { build_kwok; mark_built kwok "$KWOK_VERSION"; }
  built kubernetes "$K8S_VERSION" || { build_kubernetes; mark_built kubernetes "$K8S_VERSION"; }
  for b in "${LOCAL_BINARIES[@]}"; do [[ -x "${BIN_DIR}/$b" ]] || die "build did not produce ${BIN_DIR}/$b"; done
  "${BIN_DIR}/kube-apiserver" --version | grep -qx "Kubernetes ${K8S_VERSION}" \
    || die "kube-apiserver reports '$("${BIN_DIR}/kube-apiserver" --version)', expected Kubernetes ${K8S_VERSION}"
  stamp_content > "$STAMP"
  log "built all binaries in $((SECONDS - start))s"
}

# ------------------------------------------------------------------------------------------
# helpers shared by both backends
# ------------------------------------------------------------------------------------------

# wait_until SECONDS DESCRIPTION CMD...: retry CMD (quietly) until it succeeds or time runs out.
wait_until() {
  local timeout="$1" what="$2" deadline=$((SECONDS + $1))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "timed out after ${timeout}s waiting for ${what}"
    fi
    sleep 1
  done
}

kubeconfig_for() { case "$1" in local) echo "$LOCAL_KUBECONFIG" ;; kind) echo "$KIND_KUBECONFIG" ;; esac; }

# k BACKEND ARGS...: kubectl against the backend's cluster (the built kubectl for local).
k() {
  local backend="$1"; shift
  local kubectl=kubectl
  [[ "$backend" == local ]] && kubectl="${BIN_DIR}/kubectl"
  "$kubectl" --kubeconfig "$(kubeconfig_for "$backend")" "$@"
}

api_ready() { k "$1" get --raw /readyz --request-timeout=5s; }

default_sa_exists() { k "$1" -n default get serviceaccount default; }

# Wait until the cluster is usable: API ready, all nodes Ready, the default ServiceAccount
# exists (pods can be created), and the DNS pods behind kube-dns run.
wait_ready() {
  local backend="$1"
  log "waiting for the API server ..."
  wait_until 120 "the API server to be ready" api_ready "$backend"
  log "waiting for the nodes to be Ready ..."
  wait_until 120 "at least one node to register" nodes_exist "$backend"
  k "$backend" wait --for=condition=Ready node --all --timeout=120s >/dev/null
  log "waiting for the default ServiceAccount ..."
  wait_until 120 "the default ServiceAccount" default_sa_exists "$backend"
  log "waiting for CoreDNS (k8s-app=kube-dns) ..."
  k "$backend" -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null
}

nodes_exist() { [[ -n "$(k "$1" get nodes -o name 2>/dev/null)" ]]; }

# Apply e2e/cluster-addons.yaml. kind (like kubeadm) already has these objects: only create the
# ones it lacks, never rewrite its own.
apply_addons() {
  local backend="$1"
  if [[ "$backend" == kind ]]; then
    if k kind -n kube-system get service/kube-dns configmap/coredns configmap/kube-proxy deployment/coredns >/dev/null 2>&1; then
      return 0
    fi
    log "adding the missing kube-system addons from ${ADDONS} ..."
    k kind create -f "$ADDONS" 2>&1 | grep -v AlreadyExists >&2 || true
  else
    log "applying ${ADDONS} ..."
    k "$backend" apply -f "$ADDONS" >/dev/null
  fi
}

print_env() {
  local backend="$1"
  printf 'export KUBECONFIG=%q\n' "$(kubeconfig_for "$backend")"
  if [[ "$backend" == local ]]; then
    # shellcheck disable=SC2016 # $PATH is for the shell that evals this
    # The kubectl built with the cluster (same version) first on PATH; only kubectl is there.
    printf 'export PATH=%q:"$PATH"\n' "${K8S_DIR}/path"
  fi
}

# readonly-kubeconfig BACKEND: a kubeconfig for ServiceAccount kube-system/netfix-readonly, bound
# to the built-in `view` ClusterRole in every namespace (get/list/watch of most namespaced
# resources; no Secrets, no writes, no cluster-scoped kinds but namespaces). Prints its path.
readonly_kubeconfig() {
  local backend="$1" out server ca token
  out="${CACHE_ROOT}/kubeconfig-${backend}${KUBECONFIG_SUFFIX}-readonly"
  api_ready "$backend" >/dev/null 2>&1 || die "the ${backend} cluster is not up: run e2e/cluster.sh up ${backend}"
  k "$backend" -n kube-system create serviceaccount netfix-readonly --dry-run=client -o yaml | k "$backend" apply -f - >/dev/null
  k "$backend" create clusterrolebinding netfix-readonly-view --clusterrole=view \
    --serviceaccount=kube-system:netfix-readonly --dry-run=client -o yaml | k "$backend" apply -f - >/dev/null
  token="$(k "$backend" -n kube-system create token netfix-readonly --duration=24h)"
  server="$(k "$backend" config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$(k "$backend" config view --raw --minify --flatten -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
  umask 077
  cat > "$out" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: ${CLUSTER_NAME}
  cluster:
    server: ${server}
    certificate-authority-data: ${ca}
users:
- name: netfix-readonly
  user:
    token: ${token}
contexts:
- name: netfix-readonly@${CLUSTER_NAME}
  context:
    cluster: ${CLUSTER_NAME}
    user: netfix-readonly
    namespace: default
current-context: netfix-readonly@${CLUSTER_NAME}
KUBECONFIG
  echo "$out"
}

# ------------------------------------------------------------------------------------------
# local backend: kwokctl --runtime binary with the binaries built above
# ------------------------------------------------------------------------------------------

# (fd 9, the lock, is closed for kwokctl: the cluster processes it starts must not hold it.)
kwokctl_local() {
  KWOK_WORKDIR="$KWOK_WORKDIR" KWOK_KUBECTL_BINARY="${BIN_DIR}/kubectl" KWOK_KUBE_VERSION="$K8S_VERSION" \
    KWOK_RUNTIME=binary "${BIN_DIR}/kwokctl" --config "${E2E_DIR}/kwokctl.yaml" --name "$CLUSTER_NAME" "$@" 9>&-
}

local_exists() { kwokctl_local get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; }

# kwokctl_logged ARGS...: run kwokctl with its (JSON, verbose) log in ${KWOKCTL_LOG}; show the
# end of that log if it fails.
KWOKCTL_LOG="${CACHE_ROOT}/kwokctl.log"
kwokctl_logged() {
  mkdir -p "$CACHE_ROOT"
  printf '\n### %s kwokctl %s\n' "$(date -u +%FT%TZ)" "$*" >> "$KWOKCTL_LOG"
  if ! kwokctl_local "$@" >> "$KWOKCTL_LOG" 2>&1; then
    tail -n 30 "$KWOKCTL_LOG" >&2
    log "kwokctl $1 $2 failed (full log: ${KWOKCTL_LOG}; component logs: ${KWOK_WORKDIR}/clusters/${CLUSTER_NAME}/logs)"
    return 1
  fi
}

local_create() {
  log "creating cluster ${CLUSTER_NAME} (kwokctl --runtime binary, Kubernetes ${K8S_VERSION}) ..."
  # Pod IPs: each fake node gets a /24 of 10.244.0.0/16 (kind's pod subnet); Services: 10.96.0.0/16
  # (kind's). Authorization is Node,RBAC and admission plugins are on (kwokctl's defaults with a
  # secure port).
  kwokctl_logged create cluster \
    --runtime binary \
    --etcd-binary "${BIN_DIR}/etcd" \
    --kube-apiserver-binary "${BIN_DIR}/kube-apiserver" \
    --kube-controller-manager-binary "${BIN_DIR}/kube-controller-manager" \
    --kube-scheduler-binary "${BIN_DIR}/kube-scheduler" \
    --kwok-controller-binary "${BIN_DIR}/kwok" \
    --components etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kwok-controller \
    --secure-port=true --kube-authorization=true --kube-admission=true \
    --extra-args "kube-apiserver=service-cluster-ip-range=10.96.0.0/16" \
    --extra-args "kwok-controller=cidr=10.244.0.0/16" \
    --kubeconfig "$LOCAL_KUBECONFIG" \
    --quiet-pull \
    --wait 2m
}

local_scale_nodes() {
  local have
  have="$(k local get nodes -o name 2>/dev/null | wc -l)"
  if ((have < LOCAL_NODES)); then
    log "adding fake nodes (kwok): ${LOCAL_NODES} in all ..."
    # Node n gets pod CIDR 10.244.n.0/24 and InternalIP 198.51.100.(n+1) (TEST-NET-2: documentation
    # addresses, never this machine's; nothing connects to them).
    kwokctl_logged scale node --replicas "$LOCAL_NODES" \
      --param '.podCIDRs=["10.244.0.0/24"]' --param '.nodeIPs=["198.51.100.1"]' 
  fi
}

local_up() {
  build_local
  mkdir -p "${K8S_DIR}/path"
  ln -sfn "${BIN_DIR}/kubectl" "${K8S_DIR}/path/kubectl"
  local start=$SECONDS
  if local_exists && api_ready local >/dev/null 2>&1; then
    log "cluster ${CLUSTER_NAME} (local) is already up"
  else
    if local_exists; then
      # Its processes are gone (a reboot, or a CI job that ended them): start from a clean slate
      # rather than reuse whatever objects the last run left.
      log "cluster ${CLUSTER_NAME} exists but does not answer: deleting it and creating it anew"
      local_down
    fi
    local_create
  fi
  wait_until 120 "the API server to be ready" api_ready local
  local_scale_nodes
  apply_addons local
  wait_ready local
  log "cluster ${CLUSTER_NAME} (local) is ready in $((SECONDS - start))s: $(k local version -o json | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p' | tail -n1)"
  log "use it with: eval \"\$(e2e/cluster.sh env local)\""
}

local_down() {
  if [[ -x "${BIN_DIR}/kwokctl" ]] && local_exists; then
    log "deleting cluster ${CLUSTER_NAME} (local) ..."
    kwokctl_logged delete cluster --kubeconfig "$LOCAL_KUBECONFIG"
  else
    log "cluster ${CLUSTER_NAME} (local) does not exist"
  fi
  rm -f "$LOCAL_KUBECONFIG" "${LOCAL_KUBECONFIG}-readonly"
}

# ------------------------------------------------------------------------------------------
# kind backend (needs Docker)
# ------------------------------------------------------------------------------------------

kind_exists() { kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; }

kind_up() {
  command -v kind >/dev/null || die "the kind backend needs the kind CLI (https://kind.sigs.k8s.io) and Docker"
  command -v kubectl >/dev/null || die "the kind backend needs kubectl on PATH"
  mkdir -p "$CACHE_ROOT"
  if kind_exists; then
    log "cluster ${CLUSTER_NAME} (kind) is already up"
    kind get kubeconfig --name "$CLUSTER_NAME" > "$KIND_KUBECONFIG"
  else
    log "creating kind cluster ${CLUSTER_NAME} from ${E2E_DIR}/kind.yaml ..."
    kind create cluster --config "${E2E_DIR}/kind.yaml" --name "$CLUSTER_NAME" \
      --kubeconfig "$KIND_KUBECONFIG" --wait 180s >&2
  fi
  apply_addons kind
  wait_ready kind
  log "use it with: eval \"\$(e2e/cluster.sh env kind)\""
}

kind_down() {
  command -v kind >/dev/null || die "the kind backend needs the kind CLI"
  if kind_exists; then
    kind delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KIND_KUBECONFIG" >&2
  else
    log "cluster ${CLUSTER_NAME} (kind) does not exist"
  fi
  rm -f "$KIND_KUBECONFIG" "${KIND_KUBECONFIG}-readonly"
}

# ------------------------------------------------------------------------------------------

# One cluster.sh at a time changes the cache and the cluster (a second `up` waits for a first
# one that is still building).
take_lock() {
  mkdir -p "$CACHE_ROOT"
  exec 9>"${CACHE_ROOT}/.cluster.lock"
  if ! flock -n 9; then
    log "another e2e/cluster.sh is running; waiting for it ..."
    flock 9
  fi
}

main() {
  local cmd="${1:-}" backend="${2:-}"
  case "$backend" in
    local|kind) ;;
    *) usage ;;
  esac
  case "$cmd" in
    up|down|build|readonly-kubeconfig) take_lock ;;
  esac
  case "$cmd" in
    up) "${backend}_up" ;;
    down) "${backend}_down" ;;
    env) print_env "$backend" ;;
    status)
      if api_ready "$backend" >/dev/null 2>&1; then echo "up"; else echo "down"; exit 1; fi ;;
    build) [[ "$backend" == local ]] || die "only the local backend builds anything"; build_local ;;
    readonly-kubeconfig) readonly_kubeconfig "$backend" ;;
    *) usage ;;
  esac
}

main "$@"
