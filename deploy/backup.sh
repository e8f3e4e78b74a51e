#!/usr/bin/env bash
# One backup of CEROC Donations, then keep only the newest copies. Run by ceroc-backup.service
# from the checkout (/srv/ceroc) with the app's environment (/etc/ceroc/ceroc.env):
#   CEROC_BACKUP_DIR   where backups go (default /var/backups/ceroc)
#   CEROC_BACKUP_KEEP  how many database copies to keep (default 14)
#   CEROC_DATABASE_URL the app's database: SQLite (the default) is saved with
#                      `flask --app ceroc_donations backup` (a .tar.gz: the database, the
#                      files and their manifest), PostgreSQL with pg_dump.
# The archive files (rendered letters, receipts) are immutable once written: they are copied
# into $CEROC_BACKUP_DIR/files/, adding new files and never deleting any.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${CEROC_BACKUP_DIR:-/var/backups/ceroc}
KEEP=${CEROC_BACKUP_KEEP:-14}
case "$KEEP" in '' | *[!0-9]* | 0) echo "CEROC_BACKUP_KEEP must be a number ≥ 1" >&2; exit 2 ;; esac
mkdir -p "$DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
url=${CEROC_DATABASE_URL:-}

if [[ "$url" == postgresql* ]]; then
  target="$DIR/ceroc-$stamp.dump"
  # postgresql+psycopg://… is SQLAlchemy's spelling; pg_dump wants postgresql://…
  pg_dump --format=custom --no-owner --file="$target.part" "postgresql://${url#*://}" \
    || { rm -f "$target.part"; exit 1; }
  mv "$target.part" "$target"
  echo "Backup written to $target"
else
  .venv/bin/flask --app ceroc_donations backup "$DIR/ceroc-$stamp.tar.gz"
fi

# The archive files, next to the database copies.
storage=${CEROC_STORAGE_DIR:-instance}
for pair in "letters:${CEROC_ARCHIVE_DIR:-$storage/letters}" \
  "receipts:${CEROC_RECEIPTS_DIR:-$storage/receipts}"; do
  name=${pair%%:*}
  src=${pair#*:}
  if [ -d "$src" ]; then
    mkdir -p "$DIR/files/$name"
    cp -a --update "$src/." "$DIR/files/$name/"
  fi
done

# Keep the newest $KEEP database copies (the names sort by time).
mapfile -t old < <(ls -1 "$DIR" | grep -E '^ceroc-[0-9]{8}T[0-9]{6}Z\.(tar\.gz|dump)$' | sort | head -n -"$KEEP")
for name in "${old[@]}"; do
  rm -f -- "$DIR/$name"
  echo "Removed old backup $name"
done
