#!/usr/bin/env bash
# Logical backup of the broker's database: every module's tables (datasets, jobs, pulls, parties, the audit
# log with its checkpoints and signing keys, anchors) in one consistent pg_dump snapshot, custom format.
#
#   DATABASE_URL=postgres://… deploy/backup/backup.sh [OUT_DIR]        # prints the dump's path
#
# Optional upload: BACKUP_S3_TARGET=alias/bucket/prefix with an `mc` alias set up (the chart's CronJob does the
# same with its own containers). The dump holds the audit signing key and sealed linkage secrets (sealed with
# MASTER_KEY, which is not in it): store it encrypted (SSE on the bucket) and apart from MASTER_KEY.
set -euo pipefail
: "${DATABASE_URL:?DATABASE_URL must name the database to back up}"
out_dir=${1:-.}
mkdir -p "$out_dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
file="$out_dir/pavilion-$stamp.dump"
pg_dump --format=custom --no-owner --no-privileges --file="$file.partial" "$DATABASE_URL"
# A dump that pg_restore cannot list is no backup: check before it replaces anything.
pg_restore --list "$file.partial" > /dev/null
mv "$file.partial" "$file"
if [ -n "${BACKUP_S3_TARGET:-}" ]; then
  mc cp --quiet "$file" "$BACKUP_S3_TARGET/" > /dev/null
fi
echo "$file"
