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

CLUSTER_NAME="netfix-e2e"
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ADDONS="${E2E_DIR}/cluster-addons.yaml"
CACHE_ROOT="${NETFIX_CACHE:-$HOME/.cache/kubectl-netfix}"
K8S_DIR="${CACHE_ROOT}/k8s-${K8S_VERSION}"
BIN_DIR="${K8S_DIR}/bin"
BUILD_DIR="${K8S_DIR}/build"
STAMP="${BIN_DIR}/.complete"
# kwokctl keeps each cluster's state (pki, etcd data, logs, pids) under KWOK_WORKDIR.
KWOK_WORKDIR="${CACHE_ROOT}/kwok"
LOCAL_KUBECONFIG="${CACHE_ROOT}/kubeconfig-local"
KIND_KUBECONFIG="${CACHE_ROOT}/kubeconfig-kind"
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

# write_module DIR MODULE_PATH: a throwaway main module whose go.mod pins what we build.
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
  log "(this takes a long while on a small machine; later runs reuse them)"
  local start=$SECONDS b
  for b in etcd kwok kwokctl; do [[ -x "${BIN_DIR}/$b" ]] || { build_etcd_or_kwok "$b"; }; done
  if ! [[ -x "${BIN_DIR}/kube-apiserver" && -x "${BIN_DIR}/kube-controller-manager" \
        && -x "${BIN_DIR}/kube-scheduler" && -x "${BIN_DIR}/kubectl" ]]; then
    build_kubernetes
  fi
  for b in "${LOCAL_BINARIES[@]}"; do [[ -x "${BIN_DIR}/$b" ]] || die "build did not produce ${BIN_DIR}/$b"; done
  "${BIN_DIR}/kube-apiserver" --version | grep -qx "Kubernetes ${K8S_VERSION}" \
    || die "kube-apiserver reports '$("${BIN_DIR}/kube-apiserver" --version)', expected Kubernetes ${K8S_VERSION}"
  stamp_content > "$STAMP"
  log "built all binaries in $((SECONDS - start))s"
}

build_etcd_or_kwok() {
  case "$1" in
    etcd) build_etcd ;;
    kwok|kwokctl) [[ -x "${BIN_DIR}/kwok" && -x "${BIN_DIR}/kwokctl" ]] || build_kwok ;;
  esac
}

main() {
  case "${1:-}:${2:-}" in
    build:local) build_local ;;
    *) usage ;;
  esac
}
main "$@"
