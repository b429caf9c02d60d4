#!/bin/sh
# Imports OpenHIM metadata (Clients, Channels, ...) into a running core with
# POST /metadata, as the jembi/platform package importers do, but with curl
# only (no Node), so it runs in a small pinned curl image.
#
# Environment:
#   OPENHIM_API_URL    core API base URL (default https://openhim-core:8080)
#   OPENHIM_USERNAME   an admin user of the core API (default root@openhim.org)
#   OPENHIM_PASSWORD   that user's password (required)
#   IMPORT_FILE        the metadata JSON (default /openhim-import.json)
#   TRUST_SELF_SIGNED  true: accept core's self-signed certificate (dev only)
#   OPENHIM_CA_FILE    PEM bundle to verify core's certificate instead
#   MAX_ATTEMPTS       how often to try before giving up (default 60)
#   RETRY_DELAY        seconds between attempts (default 5)
#
# Why it retries: core takes a while to connect to MongoDB and open its API,
# and compose/swarm start this container as soon as they can. Why it reads
# the answer: core answers 201 even when single items fail, listing each
# item with status Inserted, Updated or Error.
set -u

api=${OPENHIM_API_URL:-https://openhim-core:8080}
user=${OPENHIM_USERNAME:-root@openhim.org}
file=${IMPORT_FILE:-/openhim-import.json}
attempts=${MAX_ATTEMPTS:-60}
delay=${RETRY_DELAY:-5}

if [ -z "${OPENHIM_PASSWORD:-}" ]; then
  echo "openhim-import: OPENHIM_PASSWORD is not set" >&2
  exit 2
fi
if [ ! -r "$file" ]; then
  echo "openhim-import: cannot read $file" >&2
  exit 2
fi
case $attempts in '' | *[!0-9]*) echo "openhim-import: MAX_ATTEMPTS=$attempts is not a number" >&2; exit 2 ;; esac
case $delay in '' | *[!0-9]*) echo "openhim-import: RETRY_DELAY=$delay is not a number" >&2; exit 2 ;; esac

tls=""
case $(printf '%s' "${TRUST_SELF_SIGNED:-false}" | tr 'A-Z' 'a-z') in
  true | 1 | yes | on) tls="--insecure" ;;
esac
if [ -n "${OPENHIM_CA_FILE:-}" ]; then
  tls="--cacert ${OPENHIM_CA_FILE}"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT

# esc quotes a value for a curl config line ("..." with \ escapes).
esc() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

# The password goes to curl on stdin (a config line), never on its command
# line, where any process listing would show it.
post() {
  # shellcheck disable=SC2086
  printf 'user = "%s:%s"\n' "$(esc "$user")" "$(esc "$OPENHIM_PASSWORD")" |
    curl --silent --show-error --config - $tls \
      --max-time 30 \
      --output "$out" --write-out '%{http_code}' \
      --header 'Content-Type: application/json' \
      --data-binary "@$file" \
      "$api/metadata"
}

i=1
while :; do
  code=$(post 2>/dev/null) || code=000
  case $code in
    201)
      # One entry per imported item; report each without echoing records
      # (client records carry password hashes).
      statuses=$(grep -o '"status":"[A-Za-z]*"' "$out" | sed 's/"status":"\(.*\)"/\1/' | sort | uniq -c | tr -s ' \n' ' ')
      if grep -q '"status":"Error"' "$out"; then
        echo "openhim-import: core rejected some items:${statuses}" >&2
        grep -o '"message":"[^"]*"' "$out" | grep -v '"message":""' >&2
        exit 1
      fi
      echo "openhim-import: imported $file into $api:${statuses}"
      exit 0
      ;;
    401 | 403)
      echo "openhim-import: core refused $user (HTTP $code): check OPENHIM_USERNAME/OPENHIM_PASSWORD and that basic is in api_authenticationTypes" >&2
      exit 1
      ;;
    400 | 404 | 413 | 415)
      echo "openhim-import: core answered HTTP $code to POST $api/metadata; not retrying" >&2
      exit 1
      ;;
  esac
  if [ "$i" -ge "$attempts" ]; then
    echo "openhim-import: gave up after $attempts attempts (last HTTP $code from $api/metadata)" >&2
    exit 1
  fi
  echo "openhim-import: core not ready (HTTP $code), attempt $i of $attempts; retrying in ${delay}s"
  i=$((i + 1))
  sleep "$delay"
done
