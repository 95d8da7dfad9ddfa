#!/usr/bin/env bash
# Restores a dump made by backup.sh into a new, empty database, in one transaction (all or nothing).
#
#   deploy/backup/restore.sh DUMP_FILE TARGET_DATABASE_URL
#
# The target database is created when it does not exist, and must be empty when it does. Then start a broker
# on it (same MASTER_KEY as before) and run `pavilion audit monitor` with the state an auditor kept from before
# the backup: it proves the restored log extends every checkpoint and anchor published before (docs/operations.md).
set -euo pipefail
dump=${1:?usage: restore.sh DUMP_FILE TARGET_DATABASE_URL}
target=${2:?usage: restore.sh DUMP_FILE TARGET_DATABASE_URL}
pg_restore --list "$dump" > /dev/null
db_name=$(node -e 'console.log(decodeURIComponent(new URL(process.argv[1]).pathname.slice(1)))' "$target")
if ! [[ "$db_name" =~ ^[A-Za-z0-9_]+$ ]]; then
  echo "restore.sh: the target database name must be letters, digits and _" >&2
  exit 2
fi
maintenance=$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/postgres"; console.log(u.href)' "$target")
exists=$(psql "$maintenance" -Atqc "select 1 from pg_database where datname = '$db_name'")
if [ "$exists" = 1 ]; then
  tables=$(psql "$target" -Atqc "select count(*) from pg_tables where schemaname = 'public'")
  if [ "$tables" != 0 ]; then
    echo "restore.sh: database $db_name is not empty ($tables tables); restore into a new one" >&2
    exit 1
  fi
else
  psql "$maintenance" -qc "create database $db_name"
fi
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$target" "$dump"
echo "restored $dump into $db_name"
