#!/usr/bin/env bash
# One backup of CEROC Donations, then keep only the newest copies. Run by ceroc-backup.service
# from the checkout (/srv/ceroc) with the app's environment (/etc/ceroc/ceroc.env):
#   CEROC_BACKUP_DIR   where backups go (default /var/backups/ceroc)
#   CEROC_BACKUP_KEEP  how many backups to keep (default 14)
# `flask --app ceroc_donations backup` writes one .tar.gz: the database (SQLite's online backup
# or pg_dump, whichever CEROC_DATABASE_URL names), the receipts and the letter archive, with a
# manifest of SHA-256 sums. `flask --app ceroc_donations restore` puts one back.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${CEROC_BACKUP_DIR:-/var/backups/ceroc}
KEEP=${CEROC_BACKUP_KEEP:-14}
case "$KEEP" in '' | *[!0-9]* | 0) echo "CEROC_BACKUP_KEEP must be a number ≥ 1" >&2; exit 2 ;; esac
mkdir -p "$DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

.venv/bin/flask --app ceroc_donations backup "$DIR/ceroc-$stamp.tar.gz"

# Keep the newest $KEEP backups (the names sort by time).
mapfile -t old < <(ls -1 "$DIR" | grep -E '^ceroc-[0-9]{8}T[0-9]{6}Z\.tar\.gz$' | sort | head -n -"$KEEP")
for name in "${old[@]}"; do
  rm -f -- "$DIR/$name"
  echo "Removed old backup $name"
done
