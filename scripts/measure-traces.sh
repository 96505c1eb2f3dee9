#!/usr/bin/env bash
# How long traces stay in `cloudcart run`'s trace store, and what the store
# costs in memory (docs/traces.md, docs/benchmarks.md). Two `cloudcart run`
# processes side by side under the same background load (LOAD journeys/s):
# one with the trace store (MAX_BYTES), one with --traces.max-bytes 0 (no
# store: the process as it was before traces were kept). After LIGHT
# seconds, `cloudcart load --rate HEAVY` drives the first one's gateway too,
# for HEAVY_S seconds, until its store is full and evicting.
#
# Every INTERVAL it prints, for the store: spans/s and KiB/s received, MiB
# stored, the age of the oldest trace (how far back an exemplar's link
# still opens), traces evicted, how many of the gateway exemplars' trace
# ids seen in the first minute (40 at most) still open; and the VmRSS of both processes.
#
#   scripts/measure-traces.sh [LOAD] [LIGHT s] [HEAVY journeys/s] [HEAVY_S s] [INTERVAL s] [MAX_BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-2}
light=${2:-360}
heavy=${3:-20}
heavy_s=${4:-420}
interval=${5:-60}
maxbytes=${6:-64MiB}

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/cloudcart" ./cmd/cloudcart

ports=()
for s in users products orders chaos notifier gateway aggregator prometheus; do ports+=("--$s.port" 0); done
"$work/cloudcart" run --data-dir "$work/with" "${ports[@]}" --otlp.listen 127.0.0.1:0 --log.level warn \
	--gateway.rate-limit 0 --load.rate "$rate" --traces.max-bytes "$maxbytes" >"$work/with.out" 2>"$work/with.err" &
with=$!
pids+=("$with")
"$work/cloudcart" run --data-dir "$work/without" "${ports[@]}" --otlp.listen "" --log.level warn \
	--load.rate "$rate" --traces.max-bytes 0 >"$work/without.out" 2>"$work/without.err" &
without=$!
pids+=("$without")
# One client drives the heavy load: the gateway's per-client rate limit is
# off in the first process (as in measure-services.sh).
for _ in $(seq 120); do
	grep -q '^  prometheus' "$work/with.out" 2>/dev/null && grep -q '^  prometheus' "$work/without.out" 2>/dev/null && break
	sleep 1
done
engine=$(awk '$1 == "prometheus" {print $3}' "$work/with.out")
gateway=$(awk '$1 == "gateway" {print $3}' "$work/with.out")
rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
metrics() { curl -s "$engine/metrics" >"$work/metrics"; }
metric() { awk -v m="$1" '$1 == m {printf "%.0f", $2}' "$work/metrics"; }

echo "background load ${rate} journeys/s, store ${maxbytes}; heavy load ${heavy} journeys/s after ${light}s; engine ${engine}"
printf '%6s %8s %8s %8s %9s %12s %10s %12s %8s %12s\n' t_s load spans/s KiB/s store_MiB oldest_age_s evicted exemplars_ok rss_MiB rss_no_store
ids=()
last_spans=0
last_bytes=0
load=$rate
for ((t = interval; t <= light + heavy_s; t += interval)); do
	sleep "$interval"
	if ((t > light)) && [[ $load == "$rate" ]]; then
		"$work/cloudcart" load --target "$gateway" --rate "$heavy" --duration "$((heavy_s - interval))s" --interval -1s >"$work/load.out" 2>&1 &
		pids+=($!)
		load="$rate+$heavy"
	fi
	if ((${#ids[@]} == 0)); then # exemplar trace ids of the first minute
		now=$(date +%s)
		mapfile -t ids < <(curl -s "$engine/api/v1/query_exemplars" --data-urlencode 'query=http_request_duration_seconds_bucket{job="api-gateway"}' \
			--data-urlencode "start=$((now - 60))" --data-urlencode "end=$now" | grep -o '"trace_id":"[0-9a-f]*"' | cut -d'"' -f4 | sort -u | head -n 40)
	fi
	ok=0
	for id in "${ids[@]}"; do
		[[ $(curl -s -o /dev/null -w '%{http_code}' "$engine/api/traces/$id") == 200 ]] && ok=$((ok + 1))
	done
	metrics
	spans=$(metric cloudcart_traces_spans_received_total)
	bytes=$(($(metric 'cloudcart_traces_bytes{pool="recent"}') + $(metric 'cloudcart_traces_bytes{pool="kept"}')))
	evicted=$(metric 'cloudcart_traces_evicted_total{pool="recent"}')
	# Bytes received: stored now minus stored before plus what was evicted
	# meanwhile is not exposed; before eviction starts it is the growth.
	printf '%6d %8s %8d %8d %9.1f %12s %10s %9d/%-3d %8s %12s\n' "$t" "$load" $(((spans - last_spans) / interval)) \
		$(((bytes - last_bytes) / interval / 1024)) "$(awk -v b="$bytes" 'BEGIN {print b / 1048576}')" \
		"$(metric 'cloudcart_traces_oldest_age_seconds{pool="recent"}')" "$evicted" "$ok" "${#ids[@]}" "$(rss "$with")" "$(rss "$without")"
	last_spans=$spans
	last_bytes=$bytes
done
echo "heavy load summary:"
tail -n 15 "$work/load.out" || true
