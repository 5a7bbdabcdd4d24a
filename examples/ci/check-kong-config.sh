#!/bin/sh
# Validate and lint kong.yml, diff it against the main branch (replaying recorded sessions when a log is given) and,
# when a running kong-ts is given, plan the reload (replaying the sessions it saw recently).
# Posts the result as a pull request comment when `gh` is available and PR_NUMBER is set, else prints it.
#
#   KONG_FILE=kong.yml BASE_REF=origin/main KONG_ADMIN_URL=http://127.0.0.1:8001 ./check-kong-config.sh
#   REPLAY_LOG=access.json FAIL_ON_UNROUTED=1 ./check-kong-config.sh
#
# Exit: 0 fine, 1 invalid file, lint findings at or above LINT_FAIL_ON, or (FAIL_ON_UNROUTED=1) a replayed
# session that would find no route; 2 trouble (a tool failed).
set -u
KONG_FILE=${KONG_FILE:-kong.yml}
BASE_REF=${BASE_REF:-origin/main}
KONG_TS=${KONG_TS:-npx --no-install kong-ts}
FORMAT=${FORMAT:-text}          # `github` inside GitHub Actions: errors and findings land on the PR's lines
LINT_FAIL_ON=${LINT_FAIL_ON:-warning}   # error, warning, info or never
REPLAY_LOG=${REPLAY_LOG:-}      # a json access log (proxy_stream_access_log = PATH json) or a saved GET /sessions/recent
FAIL_ON_UNROUTED=${FAIL_ON_UNROUTED:-0}
report=$(mktemp) old=$(mktemp) codes=$(mktemp)
trap 'rm -f "$report" "$old" "$codes"' EXIT

# 1. validate: every error with file:line:column
$KONG_TS config parse --format "$FORMAT" "$KONG_FILE"
status=$?
if [ "$status" -ne 0 ]; then
  echo "kong-ts: $KONG_FILE is invalid (exit $status)" >&2
  exit "$status"
fi

# 2. lint: what the valid file means (shadowed routes, ties, certificates, ...)
$KONG_TS config lint --format "$FORMAT" --fail-on "$LINT_FAIL_ON" "$KONG_FILE"
lint=$?
if [ "$lint" -eq 2 ]; then exit 2; fi

unrouted=""
[ "$FAIL_ON_UNROUTED" = 1 ] && unrouted="--fail-on-unrouted"
{
  echo "### kong-ts: changes in \`$KONG_FILE\`"
  echo '```'
  # 3. diff against the base branch (a new file has no old version), replaying recorded sessions when given
  if git show "$BASE_REF:$KONG_FILE" >"$old" 2>/dev/null; then
    if [ -n "$REPLAY_LOG" ]; then
      $KONG_TS config diff "$old" "$KONG_FILE" --replay "$REPLAY_LOG" $unrouted
      echo "diff $?" >>"$codes"
    else
      $KONG_TS config diff "$old" "$KONG_FILE"
    fi
  else
    echo "(no $KONG_FILE on $BASE_REF: new file)"
  fi
  # 4. plan against the running proxy, when one is reachable from here (replays its recent sessions)
  if [ -n "${KONG_ADMIN_URL:-}" ]; then
    echo
    $KONG_TS config plan "$KONG_FILE" --admin "$KONG_ADMIN_URL" $unrouted
    echo "plan $?" >>"$codes"
  fi
  echo '```'
} >"$report" 2>&1
# diff and plan exit 1 when there are differences: only 2 is trouble
if grep -q '^Error: ' "$report" || grep -q ' 2$' "$codes"; then cat "$report" >&2; exit 2; fi

if command -v gh >/dev/null 2>&1 && [ -n "${PR_NUMBER:-}" ]; then
  gh pr comment "$PR_NUMBER" --body-file "$report" || cat "$report"
else
  cat "$report"
fi
if [ "$lint" -ne 0 ]; then echo "kong-ts: lint findings at or above '$LINT_FAIL_ON'" >&2; exit 1; fi
if [ -n "$unrouted" ] && grep -q ' 1$' "$codes"; then echo "kong-ts: replayed sessions would find no route" >&2; exit 1; fi
exit 0
