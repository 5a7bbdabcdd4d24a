#!/bin/sh
# Scaling across cores: ../shared/bench/l4bench.py with every proxy given N workers instead of one.
# HAProxy gets `nbthread N`, nginx `worker_processes N` (with its master process, which N workers need), kong-ts
# `nginx_worker_processes = N` (KONG_NGINX_WORKER_PROCESSES). The bench itself is not changed: a copy is patched.
# Usage (from the project root, after `npm run build`):
#   sh scripts/scaling-bench.sh [N=$(nproc)] [l4bench options, e.g. --rounds 3 --metrics rps_new_conn]
set -eu
n=${1:-$(nproc)}
[ $# -gt 0 ] && shift
bench=${L4BENCH:-../shared/bench/l4bench.py}
copy=$(mktemp /tmp/l4bench-scaled.XXXXXX.py)
trap 'rm -f "$copy"' EXIT
sed -e "s/^  nbthread 1\$/  nbthread $n/" \
    -e "s/^worker_processes 1;\$/worker_processes $n;/" \
    -e "s/^master_process off;\$/master_process on;/" "$bench" > "$copy"
for want in "nbthread $n" "worker_processes $n;" "master_process on;"; do
  grep -q "$want" "$copy" || { echo "scaling-bench: $bench changed shape: '$want' not set" >&2; exit 2; }
done
KONG_NGINX_WORKER_PROCESSES=$n exec python3 "$copy" "$@"
