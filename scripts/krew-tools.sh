#!/usr/bin/env bash
# Build (once per machine) the tools the krew install test needs, from the Go module proxy.
#
#   scripts/krew-tools.sh build   build whatever is missing (krew, validate-krew-manifest, kubectl)
#   scripts/krew-tools.sh paths   build whatever is missing, then print NAME=PATH for each tool
#   scripts/krew-tools.sh path NAME   build NAME if missing, then print its path
#
# Everything lands in a cache outside the repo, ${NETFIX_CACHE:-$HOME/.cache/kubectl-netfix}:
#   krew-<KREW_VERSION>/{krew,validate-krew-manifest}
#   kubectl: the local control plane's k8s-<K8S_VERSION>/bin/kubectl (built by e2e/cluster.sh) if
#            it is there, else our own build of the same release in kubectl-<K8S_VERSION>/kubectl.
# Builds take a lock, so concurrent callers wait for one build instead of racing; a binary is
# moved into place only once it is complete. Logs go to stderr; `paths`/`path` print on stdout.
set -euo pipefail

# ---- pinned versions ----
KREW_VERSION="v0.4.3"                          # sigs.k8s.io/krew (the latest release)
K8S_VERSION="${NETFIX_K8S_VERSION:-v1.36.3}"   # same release as e2e/cluster.sh's control plane
STAGING_VERSION="v0.${K8S_VERSION#v1.}"        # k8s.io/api etc.: v1.36.3 -> v0.36.3

CACHE_ROOT="${NETFIX_CACHE:-$HOME/.cache/kubectl-netfix}"
KREW_DIR="${CACHE_ROOT}/krew-${KREW_VERSION}"
CONTROL_PLANE_KUBECTL="${CACHE_ROOT}/k8s-${K8S_VERSION}/bin/kubectl"
KUBECTL_DIR="${CACHE_ROOT}/kubectl-${K8S_VERSION}"

log() { printf '[krew-tools] %s\n' "$*" >&2; }
die() { printf '[krew-tools] error: %s\n' "$*" >&2; exit 1; }

go_env() {
  command -v go >/dev/null || die "building krew and kubectl needs Go (>= 1.26) on PATH"
  # Outside any workspace, static binaries, reproducible paths; both cores but at low priority
  # (other builds may be running).
  export GOWORK=off GO111MODULE=on CGO_ENABLED=0
  export GOFLAGS="-mod=mod -buildvcs=false -trimpath -p=${NETFIX_BUILD_JOBS:-2}"
}

# with_lock DIR CMD...: run CMD holding DIR/.lock (created as needed).
with_lock() {
  local dir="$1"
  shift
  mkdir -p "$dir"
  (
    flock 9
    "$@"
  ) 9>"${dir}/.lock"
}

# ---------------------------------------------------------------------------------------------
# krew and validate-krew-manifest
# ---------------------------------------------------------------------------------------------

krew_ready() { [[ -x "${KREW_DIR}/krew" && -x "${KREW_DIR}/validate-krew-manifest" ]]; }

build_krew_locked() {
  krew_ready && return 0
  go_env
  local gobin
  gobin="$(mktemp -d "${KREW_DIR}/.build.XXXXXX")"
  log "building krew ${KREW_VERSION} and validate-krew-manifest into ${KREW_DIR} ..."
  # krew's go.mod has no replace directives, so `go install pkg@version` builds it exactly as
  # pinned. gitTag makes `krew version` report the release (and marks it as no dev build).
  GOBIN="$gobin" nice -n 10 go install \
    -ldflags "-s -w -X sigs.k8s.io/krew/internal/version.gitTag=${KREW_VERSION}" \
    "sigs.k8s.io/krew/cmd/krew@${KREW_VERSION}" \
    "sigs.k8s.io/krew/cmd/validate-krew-manifest@${KREW_VERSION}" ||
    { rm -rf "$gobin"; die "building krew ${KREW_VERSION} failed"; }
  mv -f "${gobin}/validate-krew-manifest" "${KREW_DIR}/validate-krew-manifest"
  mv -f "${gobin}/krew" "${KREW_DIR}/krew"
  rmdir "$gobin"
}

ensure_krew() { krew_ready || with_lock "$KREW_DIR" build_krew_locked; }

# ---------------------------------------------------------------------------------------------
# kubectl
# ---------------------------------------------------------------------------------------------

# The control plane's kubectl, once it is complete (e2e/cluster.sh may be building it right now).
control_plane_kubectl_ready() {
  [[ -x "$CONTROL_PLANE_KUBECTL" ]] && "$CONTROL_PLANE_KUBECTL" version --client >/dev/null 2>&1
}

kubectl_path() {
  if control_plane_kubectl_ready; then
    printf '%s\n' "$CONTROL_PLANE_KUBECTL"
  else
    printf '%s\n' "${KUBECTL_DIR}/kubectl"
  fi
}

build_kubectl_locked() {
  [[ -x "${KUBECTL_DIR}/kubectl" ]] || control_plane_kubectl_ready && return 0
  go_env
  local dir="${KUBECTL_DIR}/build" modfile replaces="" m
  mkdir -p "$dir"
  # k8s.io/kubernetes points its staging modules (k8s.io/api, ...) at ./staging/src/...; as a
  # dependency it needs them replaced by their published v0.X.Y versions. Take the list from its
  # own go.mod so that it is always complete.
  log "fetching k8s.io/kubernetes ${K8S_VERSION} from the module proxy ..."
  modfile="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$modfile" ]] || die "could not download k8s.io/kubernetes ${K8S_VERSION}"
  while read -r m; do
    replaces+="	${m} => ${m} ${STAGING_VERSION}"$'\n'
  done < <(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$modfile")
  [[ -n "$replaces" ]] || die "found no staging modules in ${modfile}"
  printf '%s\n' "module netfix.local/kubectl-build

go 1.26.0

godebug default=go1.26

require k8s.io/kubernetes ${K8S_VERSION}

replace (
${replaces})" >"${dir}/go.mod"

  # The version `kubectl version --client` reports, as hack/lib/version.sh sets it.
  local minor="${K8S_VERSION#v1.}" ld="-s -w" pkg
  minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ld+=" -X ${pkg}.gitTreeState=clean"
  done
  log "building kubectl ${K8S_VERSION} into ${KUBECTL_DIR} (long the first time) ..."
  (cd "$dir" && nice -n 10 go build -ldflags "$ld" -o "${dir}/kubectl" k8s.io/kubernetes/cmd/kubectl)
  mv -f "${dir}/kubectl" "${KUBECTL_DIR}/kubectl"
}

ensure_kubectl() {
  control_plane_kubectl_ready || [[ -x "${KUBECTL_DIR}/kubectl" ]] ||
    with_lock "$KUBECTL_DIR" build_kubectl_locked
}

# ---------------------------------------------------------------------------------------------

tool_path() {
  case "$1" in
    krew) ensure_krew && printf '%s\n' "${KREW_DIR}/krew" ;;
    validate-krew-manifest) ensure_krew && printf '%s\n' "${KREW_DIR}/validate-krew-manifest" ;;
    kubectl) ensure_kubectl && kubectl_path ;;
    *) die "unknown tool '$1' (krew, validate-krew-manifest, kubectl)" ;;
  esac
}

case "${1:-}" in
  build)
    ensure_krew
    ensure_kubectl
    ;;
  paths)
    ensure_krew
    ensure_kubectl
    for t in krew validate-krew-manifest kubectl; do printf '%s=%s\n' "$t" "$(tool_path "$t")"; done
    ;;
  path)
    [[ $# -eq 2 ]] || die "usage: $0 path NAME"
    tool_path "$2"
    ;;
  *)
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
