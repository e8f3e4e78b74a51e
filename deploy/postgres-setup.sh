#!/usr/bin/env bash
# Creates PostgreSQL's role and database for CEROC Donations on this server. Run as root,
# once (running it again changes nothing):
#   apt-get install -y postgresql && bash deploy/postgres-setup.sh [ROLE] [DATABASE]
# The system user `ceroc` then logs in as the role `ceroc` through the local socket (peer
# authentication, no password), with the URL this prints for /etc/ceroc/ceroc.env.
set -euo pipefail
ROLE=${1:-ceroc}
DB=${2:-ceroc}
case "$ROLE$DB" in *[!a-z0-9_]*) echo "Use lower-case letters, digits and _ only" >&2; exit 2 ;; esac
as_postgres() { runuser -u postgres -- "$@"; }

if [ -z "$(as_postgres psql -XtAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" ]; then
  as_postgres createuser --no-superuser --no-createdb --no-createrole "$ROLE"
  echo "Created role $ROLE"
fi
if [ -z "$(as_postgres psql -XtAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
  as_postgres createdb --owner="$ROLE" --encoding=UTF8 --template=template0 "$DB"
  echo "Created database $DB owned by $ROLE"
fi
echo "CEROC_DATABASE_URL=postgresql+psycopg://$ROLE@/$DB?host=/run/postgresql"
