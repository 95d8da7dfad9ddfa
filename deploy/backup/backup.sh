#!/usr/bin/env bash
# Logical backup of the broker's database: every module's tables (datasets, jobs, pulls, parties, the audit
# log with its checkpoints, anchors) in one consistent pg_dump snapshot, custom format.
#
#   DATABASE_URL=postgres://… deploy/backup/backup.sh [OUT_DIR]        # prints the dump's path
#
# Optional upload: BACKUP_S3_TARGET=alias/bucket/prefix with an `mc` alias set up (the chart's CronJob does the
# same with its own containers). The dump holds the data providers' CLKs and claims, linkage secrets and job
# queries sealed with MASTER_KEY (which is not in it): it is written readable by its owner only (umask 077; it
# was 0644); store it encrypted (SSE on the bucket) and apart from MASTER_KEY. The log's signing key is not in it
# either: the broker takes it from AUDIT_SIGNING_KEY(_FILE) or STATE_DIR/audit-signing-key (audit/signing-key.ts),
# and the table audit_signing_keys holds a key only when an earlier version generated one there (audit/log.ts).
set -euo pipefail
: "${DATABASE_URL:?DATABASE_URL must name the database to back up}"
umask 077
out_dir=${1:-.}
mkdir -p "$out_dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
file="$out_dir/pavilion-$stamp.dump"
pg_dump --format=custom --no-owner --no-privileges --file="$file.partial" "$DATABASE_URL"
# umask covers a new file; a leftover .partial of an earlier run keeps its mode, so set it.
chmod 600 "$file.partial"
# A dump that pg_restore cannot list is no backup: check before it replaces anything.
pg_restore --list "$file.partial" > /dev/null
mv "$file.partial" "$file"
if [ -n "${BACKUP_S3_TARGET:-}" ]; then
  mc cp --quiet "$file" "$BACKUP_S3_TARGET/" > /dev/null
fi
echo "$file"
