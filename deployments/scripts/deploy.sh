#!/usr/bin/env bash
# Apply deployments/kubernetes/ to the current kubectl context, in dependency order, and
# wait for every rollout. Idempotent: re-running applies only what changed.
#
#   deploy.sh [--dry-run] [--registry REG] [--tag TAG] [--context CTX] [--render DIR]
#
#   --dry-run       server-side dry run: the cluster validates everything, nothing changes
#   --registry/--tag  image registry and tag to deploy (default: as written in the manifests)
#   --render DIR    only write the manifests that would be applied into DIR (no cluster needed)
#
# The secret ades-secrets must exist first (docs/deployment.md); the template in
# 02-secret.template.yaml is never applied.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifests="$here/../kubernetes"
namespace=ades
dry_run=""
registry=""
tag=""
render_dir=""
kubectl_args=()

die() { echo "deploy.sh: $*" >&2; exit 1; }
usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --dry-run) dry_run="--dry-run=server" ;;
    --registry) (($# > 1)) || die "--registry needs a value"; registry="$2"; shift ;;
    --tag) (($# > 1)) || die "--tag needs a value"; tag="$2"; shift ;;
    --context) (($# > 1)) || die "--context needs a value"; kubectl_args+=(--context "$2"); shift ;;
    --render) (($# > 1)) || die "--render needs a directory"; render_dir="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
[[ -z "$tag" || "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--tag '$tag' is not a valid image tag"
[[ -z "$registry" || "$registry" =~ ^[a-z0-9.:/_-]+$ ]] || die "--registry '$registry' is not a valid registry path"

# Dependency order: namespace and config, storage, data stores, services, gateway, policies, jobs.
files=(00-namespace.yaml 01-configmap.yaml 03-storage.yaml 10-postgres.yaml 11-redis.yaml
       20-ui.yaml 21-ide.yaml 22-collab.yaml 23-viz.yaml 24-worker.yaml 30-gateway.yaml
       40-networkpolicies.yaml 50-backup-cronjob.yaml)

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for f in "${files[@]}"; do
  [[ -f "$manifests/$f" ]] || die "missing manifest $manifests/$f"
  sed -E \
    -e "${registry:+s#image: ghcr\.io/ades/(ades-[a-z]+):#image: $registry/\\1:#}" \
    -e "${tag:+s#image: (.*/ades-[a-z]+):[^[:space:]]+#image: \\1:$tag#}" \
    "$manifests/$f" > "$out/$f"
done

if [[ -n "$render_dir" ]]; then
  mkdir -p "$render_dir"
  cp "${files[@]/#/$out/}" "$render_dir/"
  echo "deploy.sh: wrote ${#files[@]} manifests to $render_dir"
  exit 0
fi

command -v kubectl >/dev/null || die "kubectl is not installed"
kc() { kubectl "${kubectl_args[@]}" "$@"; }
kc version --request-timeout=10s >/dev/null 2>&1 \
  || die "cannot reach the cluster of context '$(kc config current-context 2>/dev/null || echo none)'"

apply() {
  echo "== apply $1"
  kc apply $dry_run -f "$out/$1"
}
wait_for() {
  [[ -n "$dry_run" ]] && return 0
  echo "== wait for $1"
  kc -n "$namespace" rollout status "$1" --timeout=10m || die "$1 did not become ready (kubectl -n $namespace describe $1)"
}

apply 00-namespace.yaml
if [[ -z "$dry_run" ]] && ! kc -n "$namespace" get secret ades-secrets >/dev/null 2>&1; then
  die "secret ades-secrets is missing in namespace $namespace; create it first (docs/deployment.md)"
fi
apply 01-configmap.yaml
apply 03-storage.yaml
apply 10-postgres.yaml
apply 11-redis.yaml
wait_for statefulset/ades-postgres
wait_for statefulset/ades-redis
apply 20-ui.yaml
apply 21-ide.yaml
apply 22-collab.yaml
apply 23-viz.yaml
apply 24-worker.yaml
for svc in ui ide collab viz worker; do wait_for "deployment/ades-$svc"; done
apply 30-gateway.yaml
wait_for deployment/ades-gateway
apply 40-networkpolicies.yaml
apply 50-backup-cronjob.yaml
echo "deploy.sh: done${dry_run:+ (dry run: nothing changed)}"
