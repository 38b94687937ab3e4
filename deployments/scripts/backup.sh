#!/usr/bin/env bash
# Back up ADES: the database (SQLite online backup or pg_dump), the data directory and
# the config, as one ades-backup-<time>.tar.gz (see `ades backup --help`).
#
#   backup.sh [--local|--compose|--kubernetes] [--keep N] DEST_DIR
#
#   --local       (default) the installation this checkout's configuration points at
#   --compose     the docker compose suite: runs `ades backup` in the worker container
#   --kubernetes  starts a Job from the ades-backup CronJob (DEST_DIR is ignored: the
#                 backup lands on the ades-backups volume)
set -euo pipefail

die() { echo "backup.sh: $*" >&2; exit 1; }
mode=local
keep=""
dest=""
while (($#)); do
  case "$1" in
    --local|--compose|--kubernetes) mode="${1#--}" ;;
    --keep) (($# > 1)) || die "--keep needs a number"; keep="$2"; shift ;;
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z "$dest" ]] || die "only one DEST_DIR"; dest="$1" ;;
  esac
  shift
done
[[ -z "$keep" || "$keep" =~ ^[1-9][0-9]*$ ]] || die "--keep must be a positive number"
[[ "$mode" == kubernetes || -n "$dest" ]] || die "give the directory to write the backup to"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ades="ades"
[[ -x "$root/.venv/bin/ades" ]] && ades="$root/.venv/bin/ades"

case "$mode" in
  local)
    exec "$ades" backup --output-dir "$dest" ${keep:+--keep "$keep"}
    ;;
  compose)
    command -v docker >/dev/null || die "docker is not installed"
    mkdir -p "$dest"
    name="ades-backup-$(date -u +%Y%m%dT%H%M%SZ).tar.gz"
    docker compose -f "$root/docker-compose.yml" exec -T worker ades backup --output "/tmp/$name"
    docker compose -f "$root/docker-compose.yml" cp "worker:/tmp/$name" "$dest/$name"
    docker compose -f "$root/docker-compose.yml" exec -T worker rm -f "/tmp/$name"
    echo "backup.sh: wrote $dest/$name"
    ;;
  kubernetes)
    command -v kubectl >/dev/null || die "kubectl is not installed"
    job="ades-backup-manual-$(date -u +%Y%m%d%H%M%S)"
    kubectl -n ades create job --from=cronjob/ades-backup "$job"
    kubectl -n ades wait --for=condition=complete "job/$job" --timeout=2h \
      || die "job $job failed (kubectl -n ades logs job/$job)"
    echo "backup.sh: job $job wrote its backup to the ades-backups volume"
    ;;
esac
