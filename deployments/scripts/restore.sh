#!/usr/bin/env bash
# Restore an `ades backup` archive (database, data directory, config).
#
#   restore.sh [--local|--compose] [--force] ARCHIVE
#
#   --local    (default) into the installation this checkout's configuration points at
#   --compose  into the docker compose suite: stops the services, restores through the
#              worker container, starts them again
#   --force    replace a database that already holds data
set -euo pipefail

die() { echo "restore.sh: $*" >&2; exit 1; }
mode=local
force=""
archive=""
while (($#)); do
  case "$1" in
    --local|--compose) mode="${1#--}" ;;
    --force) force="--force" ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z "$archive" ]] || die "only one ARCHIVE"; archive="$1" ;;
  esac
  shift
done
[[ -n "$archive" ]] || die "give the backup archive to restore"
[[ -f "$archive" ]] || die "$archive: no such file"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ades="ades"
[[ -x "$root/.venv/bin/ades" ]] && ades="$root/.venv/bin/ades"

case "$mode" in
  local)
    exec "$ades" restore "$archive" $force
    ;;
  compose)
    command -v docker >/dev/null || die "docker is not installed"
    compose=(docker compose -f "$root/docker-compose.yml")
    "${compose[@]}" stop gateway ui ide collab viz
    "${compose[@]}" cp "$archive" worker:/tmp/restore.tar.gz
    "${compose[@]}" exec -T worker ades restore /tmp/restore.tar.gz $force \
      || { "${compose[@]}" start ui ide collab viz gateway; die "restore failed; services restarted unchanged"; }
    "${compose[@]}" exec -T worker rm -f /tmp/restore.tar.gz
    "${compose[@]}" start ui ide collab viz gateway
    echo "restore.sh: restored $archive"
    ;;
esac
