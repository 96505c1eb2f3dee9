#!/usr/bin/env bash
# Per-service CPU and memory of the fleet under the load generator, one
# `cloudcart serve` process per service as in the compose stack and on
# Kubernetes (SQLite stores, Debian's nats-server as the bus). The figures
# size deploy/k8s (docs/benchmarks.md, "Per-service resources").
#
#   scripts/measure-services.sh [RATE journeys/s] [DURATION]
#
# Needs nats-server on PATH. Ports 18000-18100 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-20}
duration=${2:-60s}
command -v nats-server >/dev/null || { echo "nats-server not found (apt-get install nats-server)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/cloudcart" ./cmd/cloudcart
nats-server -js -a 127.0.0.1 -p 18100 -sd "$work/nats" >"$work/nats.log" 2>&1 &
pids+=($!)
nats_pid=$!

declare -A port=([users]=18001 [products]=18002 [orders]=18003 [chaos]=18004 [notifier]=18005 [gateway]=18080 [aggregator]=18006)
# One client address drives every simulated user: the gateway's per-client
# rate limit (100 req/s) would cap the measurement, so it is off here.
export CLOUDCART_BIND=127.0.0.1 CLOUDCART_NATS_URL=nats://127.0.0.1:18100 CLOUDCART_LOG_LEVEL=warn \
	CLOUDCART_GATEWAY_RATE_LIMIT=0
for s in "${!port[@]}"; do
	export "CLOUDCART_${s^^}_PORT=${port[$s]}"
done
export CLOUDCART_ORDERS_PRODUCTS_URL=http://127.0.0.1:18002 CLOUDCART_ORDERS_USERS_URL=http://127.0.0.1:18001

declare -A pid
services=(users products orders chaos notifier gateway aggregator)
sleep 0.5
for s in "${services[@]}"; do
	CLOUDCART_DATA_DIR="$work/$s" "$work/cloudcart" serve "$s" >"$work/$s.log" 2>&1 &
	pid[$s]=$!
	pids+=($!)
done
for s in "${services[@]}"; do
	for _ in $(seq 1 100); do
		curl -fs "http://127.0.0.1:${port[$s]}/readyz" >/dev/null && break
		sleep 0.2
	done
	curl -fs "http://127.0.0.1:${port[$s]}/readyz" >/dev/null || { echo "$s not ready:"; tail "$work/$s.log"; exit 1; }
done

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in ticks
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
anon() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; } # heap and stacks: what the process itself holds
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

declare -A cpu0 idle_rss
all=("${services[@]}" nats)
pid[nats]=$nats_pid
sleep 5 # settle: first scrapes, seeds, connections
for s in "${all[@]}"; do idle_rss[$s]=$(rss "${pid[$s]}"); cpu0[$s]=$(cpu "${pid[$s]}"); done
t0=$(date +%s.%N)

"$work/cloudcart" load --target http://127.0.0.1:18080 --rate "$rate" --duration "$duration" --json --interval=-1s >"$work/load.json"

t1=$(date +%s.%N)
secs=$(echo "$t1 - $t0" | bc -l)
echo "load: $rate journeys/s for $duration ($(jq -r '"\(.requests) requests, \(.errors) errors, achieved \(.achieved_rate|floor) journeys/s, p99 \(.latency.p99_ms) ms"' "$work/load.json" 2>/dev/null || head -c 300 "$work/load.json"))"
echo
echo "| service | CPU under load (cores) | RSS idle (MiB) | RSS end of load (MiB) | of which anonymous (MiB) | RSS peak (MiB) |"
echo "|---|---|---|---|---|---|"
for s in "${all[@]}"; do
	c=$(cpu "${pid[$s]}")
	printf '| %s | %.3f | %.0f | %.0f | %.0f | %.0f |\n' "$s" \
		"$(echo "($c - ${cpu0[$s]}) / $ticks / $secs" | bc -l)" \
		"$(echo "${idle_rss[$s]} / 1024" | bc -l)" \
		"$(echo "$(rss "${pid[$s]}") / 1024" | bc -l)" \
		"$(echo "$(anon "${pid[$s]}") / 1024" | bc -l)" \
		"$(echo "$(hwm "${pid[$s]}") / 1024" | bc -l)"
done
