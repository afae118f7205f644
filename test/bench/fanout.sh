#!/usr/bin/env bash
# Subscriber fan-out cost: events/s the daemon writes (and its CPU) during a create+write+close+
# rename+unlink flood with 0, 1 and 16 subscribers. SUBSCRIBER=c (default) uses sub-reader.c, a
# minimal reader (the daemon's own cost); SUBSCRIBER=tail uses `fanotifyd tail > /dev/null`.
# usage: sudo test/bench/fanout.sh [ROUNDS=5] [OPS=100000]   (root; private tmpfs; ~1 minute)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
OPS=${2:-100000}
BIN=${FANOTIFYD_BIN:-./fanotifyd}
[ -x "$BIN" ] || node_modules/.bin/bun build.ts >/dev/null
WORK=$(mktemp -d /tmp/fanotifyd-fanout-XXXXXX)
cleanup() { pkill -P $$ 2>/dev/null || true; umount -l "$WORK/m" 2>/dev/null || true; umount -l "$WORK/o" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/m" "$WORK/o"
mount -t tmpfs -o size=512m tmpfs "$WORK/m"
mount -t tmpfs -o size=1g tmpfs "$WORK/o"
cc -O2 -o "$WORK/loadgen" test/bench/loadgen.c
cc -O2 -o "$WORK/sub-reader" test/bench/sub-reader.c
SUBSCRIBER=${SUBSCRIBER:-c}
cp "$BIN" "$WORK/fanotifyd"

one() { # $1 = subscribers; prints "events_per_s cpu_s overflows dropped"
  local n=$1 out="$WORK/o/out.jsonl" sock="$WORK/o/s.sock" err="$WORK/o/err"
  rm -rf "$WORK/m/w" "$out" "$err"; mkdir "$WORK/m/w"
  "$WORK/fanotifyd" -f --filesystem "$WORK/m/w" -o "$out" --socket "$sock" 2>"$err" &
  local pid=$!
  until grep -q "fanotifyd started" "$err"; do sleep 0.02; done
  local tails=()
  for _ in $(seq "$n"); do
    if [ "$SUBSCRIBER" = tail ]; then "$WORK/fanotifyd" tail --socket "$sock" >/dev/null & else "$WORK/sub-reader" "$sock" >/dev/null & fi
    tails+=($!)
  done
  # wait until all subscribers are connected (stats record on SIGUSR2 says so)
  for _ in $(seq 200); do kill -USR2 "$pid"; sleep 0.02; grep -q "\"subscribers\":$n," "$err" && break; done
  local t0; t0=$(awk '{print $14+$15}' /proc/$pid/stat)
  local s; s=$(date +%s%N)
  "$WORK/loadgen" "$WORK/m/w" cwcru "$OPS" 0 >/dev/null
  # the output stops growing once everything read was written
  local last=-1 size=0
  while :; do size=$(stat -c %s "$out"); [ "$size" = "$last" ] && break; last=$size; sleep 0.2; done
  local e; e=$(date +%s%N)
  local t1; t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  kill -TERM "$pid"; wait "$pid" || true
  for t in "${tails[@]}"; do wait "$t" 2>/dev/null || true; done
  local events; events=$(grep -c '"type":"event"' "$out" || true)
  local ovf; ovf=$(grep -c '"kind":"overflow"' "$out" || true)
  local dropped; dropped=$(grep -o '"subscribers_dropped":[0-9]*' "$err" | tail -1 | cut -d: -f2)
  # events/s over the generator's run plus the drain (minus the 0.2 s quiet check)
  awk -v ev="$events" -v ns=$((e - s)) -v c=$((t1 - t0)) -v o="$ovf" -v d="$dropped" \
    'BEGIN { printf "%.0f %.2f %d %s\n", ev / (ns / 1e9 - 0.2), c / 100, o, d }'
}

declare -A res
for r in $(seq "$ROUNDS"); do
  for n in 0 1 16; do res[$n]+="$(one $n);"; done
done
median() { tr ';' '\n' | grep -v '^$' | awk -v f="$1" '{print $f}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "subscribers: $SUBSCRIBER; $OPS ops per round"
echo "| subscribers | events/s (median of $ROUNDS) | daemon CPU s | overflow records | subscribers dropped |"
echo "|---:|---:|---:|---:|---:|"
for n in 0 1 16; do
  echo "| $n | $(echo "${res[$n]}" | median 1) | $(echo "${res[$n]}" | median 2) | $(echo "${res[$n]}" | median 3) | $(echo "${res[$n]}" | median 4) |"
done
