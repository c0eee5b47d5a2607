#!/usr/bin/env bash
# Side-by-side load test of llm-failover and Envoy AI Gateway's extproc
# (docs/performance.md): each server pinned to core 1, the generator to
# core 0, the same cases in one run. Usage:
#
#   cmd/extproc-load/compare.sh AIGW_EXTPROC_BINARY OUT_DIR [CASES...]
#
# AIGW_EXTPROC_BINARY is Envoy AI Gateway's cmd/extproc built from source
# outside this repository (docs/performance.md says how); "-" runs ours only.
# CASES default to every row: json2k-c16 json2k-c64 sse200 json64k json1m
# chain2 chain8 sse50 sse800. DURATION (default 10s) and WARMUP (default 2s)
# set each case's window.
set -euo pipefail
cd "$(dirname "$0")/../.."
aigw=${1:?usage: compare.sh AIGW_EXTPROC_BINARY OUT_DIR [CASES...]}
out=${2:?usage: compare.sh AIGW_EXTPROC_BINARY OUT_DIR [CASES...]}
shift 2
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(json2k-c16 json2k-c64 sse200 json64k json1m chain2 chain8 sse50 sse800)
duration=${DURATION:-10s}
warmup=${WARMUP:-2s}
mkdir -p "$out"
go build -o "$out/llm-failover" ./cmd/llm-failover
go build -o "$out/extproc-load" ./cmd/extproc-load
load="taskset -c 0 $out/extproc-load"
export LOADGEN_PROVIDER_KEY=sk-load-test

pids=()
# AI Gateway's extproc waits after SIGTERM (graceful shutdown): kill it.
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Ours with a 2-target and an 8-target chain; theirs with 2 and 8 backends.
# Fixed ports below the kernel's ephemeral range (32768-60999 by default),
# so no client connection on the machine can hold them.
for n in 2 8; do
	$load -write-config "$out/ours$n.yaml" -targets "$n" -grpc-address "127.0.0.1:2006$n" -admin-address "127.0.0.1:947$n"
	taskset -c 1 "$out/llm-failover" serve --config "$out/ours$n.yaml" --pprof >"$out/ours$n.log" 2>&1 &
	pids+=($!)
	if [ "$aigw" != - ]; then
		$load -write-config "$out/aigw$n.yaml" -profile aigw -targets "$n"
		# Its pprof server always listens on 127.0.0.1:6060 (internal/pprof):
		# the 2-backend instance keeps it, the other turns it off.
		dis=()
		[ "$n" = 8 ] && dis=(DISABLE_PPROF=1)
		env "${dis[@]}" taskset -c 1 "$aigw" -configPath "$out/aigw$n.yaml" -extProcAddr "127.0.0.1:106$n" -adminPort "108$n" >"$out/aigw$n.log" 2>&1 &
		pids+=($!)
	fi
done
# Wait until each server listens (a port still held by an earlier run fails here).
listening() { ss -ltn | grep -q "127.0.0.1:$1 "; }
ports=(20062 20068)
[ "$aigw" = - ] || ports+=(1062 1068)
for p in "${ports[@]}"; do
	for _ in $(seq 50); do listening "$p" && break; sleep 0.2; done
	listening "$p" || { echo "nothing listens on 127.0.0.1:$p; see $out/*.log" >&2; exit 1; }
done

run() { # name profile n args...
	local name=$1 profile=$2 n=$3
	shift 3
	if [ "$profile" = ours ]; then
		$load -label "ours/$name" -config "$out/ours$n.yaml" -addr "127.0.0.1:2006$n" -pprof "http://127.0.0.1:947$n/debug/pprof" \
			-duration "$duration" -warmup "$warmup" -json "$out/ours-$name.json" "$@" | tail -n +2
	elif [ "$aigw" != - ]; then
		local pp=()
		[ "$n" = 2 ] && pp=(-pprof http://127.0.0.1:6060/debug/pprof)
		$load -label "aigw/$name" -profile aigw -addr "127.0.0.1:106$n" "${pp[@]}" \
			-duration "$duration" -warmup "$warmup" -json "$out/aigw-$name.json" "$@" | tail -n +2
	fi
}

echo "profile/case conc bodyB chunks req/s p50µs p95µs p99µs CPUµs/req cores allocs/req KB/req genµs/req failed" | tee "$out/table.txt"
for c in "${cases[@]}"; do
	case $c in
	json2k-c16) args=(2 -body 2048 -concurrency 16) ;;
	json2k-c64) args=(2 -body 2048 -concurrency 64) ;;
	sse200) args=(2 -body 2048 -events 200) ;;
	json64k) args=(2 -body 65536) ;;
	json1m) args=(2 -body 1048576) ;;
	chain2) args=(2 -body 2048) ;;
	chain8) args=(8 -body 2048) ;;
	sse50) args=(2 -body 2048 -events 50) ;;
	sse800) args=(2 -body 2048 -events 800) ;;
	*) echo "unknown case $c" >&2; exit 2 ;;
	esac
	for profile in ours aigw; do
		run "$c" "$profile" "${args[@]}" | tee -a "$out/table.txt"
	done
done
echo
"$out/extproc-load" -summarize "$out" | tee "$out/summary.md"
