#!/usr/bin/env bash
# Signs a Dialpad fixture and posts it to a running server, printing the
# answer. For trying a deployment by hand (and the e2e test of this script).
#
#   scripts/send-test-webhook.sh APP_ID [FIXTURE] [--jwt] [--unique]
#
#   APP_ID    the app (tenant) to post to: POST /webhooks/dialpad/APP_ID
#   FIXTURE   a file, or a name in tests/fixtures/dialpad/ (with or without
#             .json); default 13-seed-call.ring
#   --jwt     Dialpad's own wire format (an HS256 JWT body); default the
#             seed's X-Dialpad-Signature header (hex HMAC-SHA256 of the body)
#   --unique  give the event a fresh dialpad_event_id (seed fixtures), so a
#             second send is not a duplicate
#
# Environment: CTI_URL (default http://localhost:${PORT:-4000}) and
# DIALPAD_WEBHOOK_SECRET (default: the one in var/dev.env, made by run.sh).
# Exit status: 0 when the server answered 2xx, 1 otherwise, 2 on bad usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

app="" fixture="13-seed-call.ring" jwt=0 unique=0
for arg in "$@"; do
  case $arg in
    --jwt) jwt=1 ;;
    --unique) unique=1 ;;
    -h|--help) usage ;;
    -*) echo "send-test-webhook: unknown option $arg" >&2; usage ;;
    *) if [[ -z $app ]]; then app=$arg; else fixture=$arg; fi ;;
  esac
done
[[ -n $app ]] || usage

if [[ -f $fixture ]]; then
  file=$fixture
elif [[ -f $ROOT/tests/fixtures/dialpad/$fixture ]]; then
  file=$ROOT/tests/fixtures/dialpad/$fixture
elif [[ -f $ROOT/tests/fixtures/dialpad/$fixture.json ]]; then
  file=$ROOT/tests/fixtures/dialpad/$fixture.json
else
  echo "send-test-webhook: no fixture $fixture" >&2
  exit 2
fi

secret=${DIALPAD_WEBHOOK_SECRET:-}
if [[ -z $secret && -f $ROOT/var/dev.env ]]; then
  secret=$(sed -n 's/^DIALPAD_WEBHOOK_SECRET=//p' "$ROOT/var/dev.env" | head -n 1)
fi
[[ -n $secret ]] || { echo "send-test-webhook: set DIALPAD_WEBHOOK_SECRET" >&2; exit 2; }

body=$(cat "$file")
if (( unique )); then
  id="test_$(date +%s%N)_$RANDOM"
  body=$(printf '%s' "$body" | sed "s/\"dialpad_event_id\": *\"[^\"]*\"/\"dialpad_event_id\": \"$id\"/")
fi

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
url=${CTI_URL:-http://localhost:${PORT:-4000}}/webhooks/dialpad/$app
answer=$(mktemp)
trap 'rm -f "$answer"' EXIT
if (( jwt )); then
  header=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url)
  payload=$(printf '%s' "$body" | b64url)
  sig=$(printf '%s' "$header.$payload" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
  status=$(printf '%s' "$header.$payload.$sig" |
    curl -sS -o "$answer" -w '%{http_code}' -H 'Content-Type: application/jwt' \
      --data-binary @- "$url")
else
  sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')
  status=$(printf '%s' "$body" |
    curl -sS -o "$answer" -w '%{http_code}' -H 'Content-Type: application/json' \
      -H "X-Dialpad-Signature: $sig" --data-binary @- "$url")
fi
echo "HTTP $status"
cat "$answer"
echo
[[ $status == 2* ]]
