#!/bin/sh
# Validate kong.yml, diff it against the main branch and, when a running kong-ts is given, plan the reload.
# Posts the result as a pull request comment when `gh` is available and PR_NUMBER is set, else prints it.
#
#   KONG_FILE=kong.yml BASE_REF=origin/main KONG_ADMIN_URL=http://127.0.0.1:8001 ./check-kong-config.sh
#
# Exit: 0 valid (whatever the diff), 1 invalid file, 2 trouble (a tool failed).
set -u
KONG_FILE=${KONG_FILE:-kong.yml}
BASE_REF=${BASE_REF:-origin/main}
KONG_TS=${KONG_TS:-npx --no-install kong-ts}
FORMAT=${FORMAT:-text}          # `github` inside GitHub Actions: errors land on the PR's lines
report=$(mktemp) old=$(mktemp)
trap 'rm -f "$report" "$old"' EXIT

# 1. validate: every error with file:line:column
$KONG_TS config parse --format "$FORMAT" "$KONG_FILE"
status=$?
if [ "$status" -ne 0 ]; then
  echo "kong-ts: $KONG_FILE is invalid (exit $status)" >&2
  exit "$status"
fi

{
  echo "### kong-ts: changes in \`$KONG_FILE\`"
  echo '```'
  # 2. diff against the base branch (a new file has no old version: diff against an empty config)
  if git show "$BASE_REF:$KONG_FILE" >"$old" 2>/dev/null; then
    $KONG_TS config diff "$old" "$KONG_FILE"
  else
    echo "(no $KONG_FILE on $BASE_REF: new file)"
  fi
  # 3. plan against the running proxy, when one is reachable from here
  if [ -n "${KONG_ADMIN_URL:-}" ]; then
    echo
    $KONG_TS config plan "$KONG_FILE" --admin "$KONG_ADMIN_URL"
  fi
  echo '```'
} >"$report" 2>&1
# diff and plan exit 1 when there are differences: only 2 is trouble
if grep -q '^Error: ' "$report"; then cat "$report" >&2; exit 2; fi

if command -v gh >/dev/null 2>&1 && [ -n "${PR_NUMBER:-}" ]; then
  gh pr comment "$PR_NUMBER" --body-file "$report" || cat "$report"
else
  cat "$report"
fi
exit 0
