#!/usr/bin/env bash
# The shared rate limit across nodes: two Gatehouse processes with limits.backend=redis and
# one API whose rate-limit policy allows 2,000 requests per second for everyone together;
# limitcheck (bench/cmd/limitcheck) offers 5,000 per second, open-loop, split evenly over
# the two, and compares the 200s with what GCRA allows. Prints the result and writes it
# into docs/benchmarks.md (section "Rate limiting across nodes").
#
#   bench/redis-limit.sh            two runs of 20 s (under a minute), writes the doc
#   bench/redis-limit.sh --help
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCS="$ROOT/docs/benchmarks.md"
COMMAND="bench/redis-limit.sh${*:+ $*}"

REDIS_URL=${GATEHOUSE_TEST_REDIS:-redis://127.0.0.1:6379/0}
RUNS=2            # measured runs, one after the other against the same nodes
DURATION=20       # seconds of load per run
RATE=5000         # requests per second offered, both nodes together
LIMIT=2000        # the policy: LIMIT per second, burst LIMIT (the default), by: api
CONNECTIONS=256   # limitcheck's keep-alive connections (and senders) per node: enough that a
                  # node stalled for 100 ms on a busy machine does not hold the load back
BACKEND=redis     # memory: the contrast, each node counting alone (never writes the doc)
WRITE_DOCS=yes
KEEP=0
TRACE=0
GATEHOUSE_BIN=${BENCH_GATEHOUSE_BIN:-} # empty: build ./cmd/gatehouse from this tree
ADMIN_TOKEN=gatehouse-bench-admin-token # for the throwaway nodes (16+ characters)
NODES=2

usage() {
	cat <<EOF
Usage: bench/redis-limit.sh [options]

Starts two Gatehouse nodes on 127.0.0.1 sharing a rate limit in Redis
(\$GATEHOUSE_TEST_REDIS, default redis://127.0.0.1:6379/0, under a prefix of its own),
sends them $RATE req/s for ${DURATION}s with bench/cmd/limitcheck, $RUNS times, and
writes the result into docs/benchmarks.md.

  --runs N           measured runs (default $RUNS)
  --duration SECS    seconds of load per run (default $DURATION)
  --rate N           requests per second offered, all nodes together (default $RATE)
  --limit N          the policy's limit per second; burst is the same (default $LIMIT)
  --connections N    keep-alive connections per node (default $CONNECTIONS)
  --nodes N          gateway processes (default $NODES)
  --backend B        redis, or memory to see each node count alone (memory never writes
                     the doc)
  --docs, --no-docs  write the results into docs/benchmarks.md, or not (default: write)
  --keep             keep the run directory (configs, logs, JSON results)
  --trace            also write every request to runN.csv in the run directory (implies
                     --keep): when it was due, sent, answered, and its status
  --gatehouse-bin F  use this Gatehouse binary instead of building ./cmd/gatehouse
                     (env BENCH_GATEHOUSE_BIN)
  -h, --help         this text

Nothing is pinned: the nodes, Redis, the origin and limitcheck share the machine's cores.
EOF
}

parse_args() {
	while (($#)); do
		case $1 in
		--runs) RUNS=${2:?--runs needs a value} && shift ;;
		--duration) DURATION=${2:?--duration needs a value} && shift ;;
		--rate) RATE=${2:?--rate needs a value} && shift ;;
		--limit) LIMIT=${2:?--limit needs a value} && shift ;;
		--connections) CONNECTIONS=${2:?--connections needs a value} && shift ;;
		--nodes) NODES=${2:?--nodes needs a value} && shift ;;
		--backend) BACKEND=${2:?--backend needs a value} && shift ;;
		--docs) WRITE_DOCS=yes ;;
		--no-docs) WRITE_DOCS=no ;;
		--keep) KEEP=1 ;;
		--trace) TRACE=1 KEEP=1 ;;
		--gatehouse-bin) GATEHOUSE_BIN=${2:?--gatehouse-bin needs a file} && shift ;;
		-h | --help) usage && exit 0 ;;
		*) usage >&2 && die "unknown argument: $1" ;;
		esac
		shift
	done
	local v
	for v in "$RUNS" "$DURATION" "$RATE" "$LIMIT" "$CONNECTIONS" "$NODES"; do
		[[ $v =~ ^[1-9][0-9]*$ ]] || die "runs, duration, rate, limit, connections and nodes are positive integers, got '$v'"
	done
	case $BACKEND in
	redis) ;;
	memory) WRITE_DOCS=no ;;
	*) die "--backend: want redis or memory, got '$BACKEND'" ;;
	esac
	if [[ -n $GATEHOUSE_BIN ]]; then
		[[ -f $GATEHOUSE_BIN && -x $GATEHOUSE_BIN ]] || die "$GATEHOUSE_BIN is not an executable file"
		GATEHOUSE_BIN=$(realpath "$GATEHOUSE_BIN")
	fi
}

check_prereqs() {
	local tool
	for tool in go curl git; do
		command -v "$tool" >/dev/null || die "$tool is not installed"
	done
}

# ---------------------------------------------------------------------------------------
# Processes: track, alive, stop_pid, stop_all and cleanup are in bench/lib.sh.

# wait_http URL PID LOG: until URL answers 200 "hello", while PID runs; at most 15 s.
wait_http() {
	local url=$1 pid=$2 log=$3 i body
	for ((i = 0; i < 150; i++)); do
		alive "$pid" || die "process $pid exited while starting; $log says:$(printf '\n'; tail -n 20 "$log")"
		if body=$(curl --noproxy '*' -sf --max-time 1 "$url" 2>/dev/null) && [[ $body == hello ]]; then
			return 0
		fi
		sleep 0.1
	done
	die "$url did not answer 200 \"hello\" within 15 s; see $log"
}

# wait_ready URL PID NAME: until the node's /readyz answers 200, while PID runs; at most 5 s.
wait_ready() {
	local url=$1 pid=$2 name=$3 i
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || die "$name exited while starting"
		curl --noproxy '*' -sf --max-time 1 "$url" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "$name is not ready (is Redis at $(sed -E 's#//[^@/]*@#//***@#' <<<"$REDIS_URL") up?):$(printf '\n'; curl --noproxy '*' -s --max-time 1 "$url")"
}

# ---------------------------------------------------------------------------------------

# The origin: limitcheck -origin, 200 "hello\n" for every request. Sets ORIGIN.
start_origin() {
	local dir="$RUN/origin" pid
	mkdir -p "$dir"
	"$RUN/bin/limitcheck" -origin 127.0.0.1:0 -addr-file "$dir/addr" >"$dir/origin.log" 2>&1 &
	pid=$!
	track "$pid" limitcheck
	wait_file "$dir/addr" "$pid" "$dir/origin.log"
	ORIGIN=$(<"$dir/addr")
	CPU_ARGS+=(-pid "origin=$pid")
	wait_http "http://$ORIGIN/" "$pid" "$dir/origin.log"
	say "origin: limitcheck -origin on $ORIGIN"
}

# The declarative document both nodes get: one published API at /, the origin its single
# target, and one rate limit counted once for all callers (by: api, so every request of
# both nodes checks the same Redis key).
api_yaml() {
	cat <<EOF
apis:
  - name: bench
    state: published
    path: /
    upstream:
      targets:
        - url: http://$ORIGIN
    policies:
      - type: rate-limit
        config: {limit: $LIMIT, window: 1s, by: api}
EOF
}

declare -a NODE_URLS=() NODE_PIDS=() NODE_ADMINS=() CPU_ARGS=()

# start_node NAME: a fresh node under $RUN/NAME on :0 ports, sharing limits in Redis under
# this run's prefix, configured with `gatehouse apply -f`.
start_node() {
	local name=$1 dir="$RUN/$1" pid proxy admin
	mkdir -p "$dir"
	GATEHOUSE_ADMIN_TOKEN="$ADMIN_TOKEN" \
		GATEHOUSE_LIMITS_BACKEND="$BACKEND" GATEHOUSE_LIMITS_FALLBACK=closed \
		GATEHOUSE_REDIS_PREFIX="$PREFIX" \
		"$GH_BIN" serve --data-dir "$dir/data" --redis-url "$REDIS_URL" \
		--proxy-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --portal-addr 127.0.0.1:0 \
		--addr-file "$dir/addrs.json" --shutdown-timeout 1s \
		>"$dir/gatehouse.log" 2>&1 &
	pid=$!
	track "$pid" "$(basename "$GH_BIN" | cut -c1-15)" # the kernel keeps 15 characters
	wait_file "$dir/addrs.json" "$pid" "$dir/gatehouse.log"
	proxy=$(addr_of proxy "$dir/addrs.json")
	admin=$(addr_of admin "$dir/addrs.json")
	api_yaml >"$dir/api.yaml"
	GATEHOUSE_ADMIN_URL="http://$admin" GATEHOUSE_TOKEN="$ADMIN_TOKEN" "$GH_BIN" apply -f "$dir/api.yaml" \
		>>"$dir/gatehouse.log" 2>&1 || die "gatehouse apply failed:$(printf '\n'; tail -n 20 "$dir/gatehouse.log")"
	# With fallback closed, a node that cannot reach Redis is not ready: say so now rather
	# than measure 503s.
	wait_ready "http://$admin/readyz" "$pid" "$name"
	wait_http "http://$proxy/" "$pid" "$dir/gatehouse.log"
	NODE_URLS+=("http://$proxy/")
	NODE_PIDS+=("$pid")
	NODE_ADMINS+=("$admin")
	CPU_ARGS+=(-pid "$name=$pid")
	say "$name: proxy on $proxy, admin on $admin (limits.backend=$BACKEND)"
}

write_meta() {
	local rev redis_version=""
	rev="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then
		rev+=" with uncommitted changes in the tree"
	fi
	if [[ -n $GATEHOUSE_BIN ]]; then rev="the binary $GATEHOUSE_BIN"; fi
	if command -v redis-cli >/dev/null; then
		redis_version=$(redis-cli -u "$REDIS_URL" INFO server 2>/dev/null | tr -d '\r' | awk -F: '$1 == "redis_version" { print $2 }') || true
	fi
	{
		echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "nproc=$(nproc)"
		echo "cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
		echo "kernel=$(uname -r)"
		echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "go=$(go version | sed 's/^go version //')"
		echo "redis=${redis_version:-unknown} at 127.0.0.1 (same machine)"
		echo "gatehouse_rev=$rev"
		echo "command=$COMMAND"
		echo "nodes=$NODES"
		echo "backend=$BACKEND"
		echo "policy=rate-limit {limit: $LIMIT, window: 1s, by: api}"
	} >"$RUN/meta.env"
}

main() {
	parse_args "$@"
	check_prereqs
	RUN=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-redis-limit.XXXXXX")
	trap cleanup EXIT
	trap 'say "interrupted"; exit 130' INT TERM
	# A prefix of this run's own: no bucket left by another run (or deployment) counts.
	PREFIX="gatehouse-bench-$(date +%s)-$$-$RANDOM:"

	say "building gatehouse and limitcheck (run directory $RUN)"
	mkdir -p "$RUN/bin"
	GH_BIN=${GATEHOUSE_BIN:-$RUN/bin/gatehouse}
	if [[ -z $GATEHOUSE_BIN ]]; then
		(cd "$ROOT" && go build -o "$RUN/bin/gatehouse" ./cmd/gatehouse) || die "go build ./cmd/gatehouse failed"
	fi
	(cd "$ROOT" && go build -o "$RUN/bin/limitcheck" ./bench/cmd/limitcheck) || die "go build ./bench/cmd/limitcheck failed"
	write_meta

	start_origin
	local i
	for ((i = 1; i <= NODES; i++)); do
		start_node "node$i"
	done
	say "redis: $(sed -E 's#//[^@/]*@#//***@#' <<<"$REDIS_URL"), prefix $PREFIX"

	local -a results=()
	local status=0
	for ((i = 1; i <= RUNS; i++)); do
		say "run $i/$RUNS: $RATE req/s for ${DURATION}s over $NODES nodes, limit $LIMIT/s"
		local -a trace=()
		if ((TRACE)); then trace=(-trace "$RUN/run$i.csv"); fi
		"$RUN/bin/limitcheck" -rate "$RATE" -duration "${DURATION}s" -connections "$CONNECTIONS" \
			-limit "$LIMIT" -window 1s -out "$RUN/run$i.json" "${trace[@]}" "${CPU_ARGS[@]}" -redis "$REDIS_URL" \
			"${NODE_URLS[@]}" >/dev/null || status=$?
		[[ -s $RUN/run$i.json ]] || die "limitcheck failed (exit $status) without a result"
		results+=("$RUN/run$i.json")
	done
	for ((i = 0; i < NODES; i++)); do
		alive "${NODE_PIDS[i]}" || die "node$((i + 1)) exited during the run; see $RUN/node$((i + 1))/gatehouse.log"
		if grep -q 'falling back' "$RUN/node$((i + 1))/gatehouse.log"; then
			say "warning: node$((i + 1)) lost Redis during the run:$(printf '\n'; grep 'falling back' "$RUN/node$((i + 1))/gatehouse.log" | head -n 3)"
			status=1
		fi
	done
	stop_all

	local docs=()
	if [[ $WRITE_DOCS == yes && $status == 0 ]]; then docs=(-docs "$DOCS"); fi
	echo
	"$RUN/bin/limitcheck" report -meta "$RUN/meta.env" "${docs[@]}" "${results[@]}" || status=$?
	return "$status"
}

main "$@"
