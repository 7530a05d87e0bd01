#!/usr/bin/env bash
# The gateway benchmark: wrk against the origin directly, and nginx, Caddy and Gatehouse as
# reverse proxies in front of it, all on 127.0.0.1; prints a markdown table and writes it
# into docs/benchmarks.md, which says what is measured and how.
#
#   bench/run.sh            full run (a little over 2 minutes), writes docs/benchmarks.md
#   bench/run.sh --quick    smoke run (about 20 s), prints only
#   bench/run.sh --help
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCS="$ROOT/docs/benchmarks.md"
COMMAND="bench/run.sh${*:+ $*}"

ROUNDS=${BENCH_ROUNDS:-3}            # every target is measured once per round
DURATION=${BENCH_DURATION:-8}        # seconds measured per target and round
WARMUP=${BENCH_WARMUP:-2}            # seconds of warm-up before each measurement
CONNECTIONS=${BENCH_CONNECTIONS:-64} # wrk -c
THREADS=1                            # wrk -t: wrk has one core
SERVER_CPU=${BENCH_SERVER_CPU:-0}    # the origin and every server under test
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}    # wrk
WRITE_DOCS=auto                      # a full run writes the doc, --quick does not
KEEP=0
GATEHOUSE_BIN=${BENCH_GATEHOUSE_BIN:-} # empty: build ./cmd/gatehouse from this tree
BASELINE_BIN=${BENCH_BASELINE_BIN:-}   # another Gatehouse binary to measure in the same run
BASELINE_PROXY_SERVER=${BENCH_BASELINE_PROXY_SERVER:-} # its proxy_server; empty: its default
ADMIN_TOKEN=gatehouse-bench-admin-token # for the throwaway Gatehouse nodes (16+ characters)

usage() {
	cat <<EOF
Usage: bench/run.sh [options]

Runs wrk (small GET, keep-alive) against the origin, nginx, Caddy and Gatehouse on
127.0.0.1, prints a markdown table and writes it into docs/benchmarks.md.

  --quick            smoke run: 1 round, 1 s warm-up, 3 s measured; does not write the doc
  --rounds N         measure every target N times, interleaved; report the median
                     (env BENCH_ROUNDS, default 3)
  --duration SECS    seconds measured per target and round (env BENCH_DURATION, default 8)
  --warmup SECS      seconds of warm-up before each measurement (env BENCH_WARMUP, default 2)
  --connections N    wrk connections (env BENCH_CONNECTIONS, default 64)
  --docs, --no-docs  write the results into docs/benchmarks.md, or not
                     (default: a run without --quick writes them)
  --keep             keep the run directory (configs, logs, raw wrk output)
  --gatehouse-bin F  measure this Gatehouse binary instead of building ./cmd/gatehouse
                     (env BENCH_GATEHOUSE_BIN)
  --baseline-bin F   also measure this Gatehouse binary, as the row "Gatehouse baseline",
                     for an A/B comparison within one run (env BENCH_BASELINE_BIN)
  --baseline-proxy-server S
                     run the baseline with proxy_server S (net/http or gatehouse)
                     instead of its default (env BENCH_BASELINE_PROXY_SERVER)
  -h, --help         this text

The servers run on CPU \$BENCH_SERVER_CPU (default 0), wrk on CPU \$BENCH_CLIENT_CPU (1).
EOF
}

parse_args() {
	while (($#)); do
		case $1 in
		--quick)
			ROUNDS=1 DURATION=3 WARMUP=1
			if [[ $WRITE_DOCS == auto ]]; then WRITE_DOCS=no; fi
			;;
		--rounds) ROUNDS=${2:?--rounds needs a value} && shift ;;
		--duration) DURATION=${2:?--duration needs a value} && shift ;;
		--warmup) WARMUP=${2:?--warmup needs a value} && shift ;;
		--connections) CONNECTIONS=${2:?--connections needs a value} && shift ;;
		--docs) WRITE_DOCS=yes ;;
		--no-docs) WRITE_DOCS=no ;;
		--keep) KEEP=1 ;;
		--gatehouse-bin) GATEHOUSE_BIN=${2:?--gatehouse-bin needs a file} && shift ;;
		--baseline-bin) BASELINE_BIN=${2:?--baseline-bin needs a file} && shift ;;
		--baseline-proxy-server) BASELINE_PROXY_SERVER=${2:?--baseline-proxy-server needs net/http or gatehouse} && shift ;;
		-h | --help) usage && exit 0 ;;
		*) usage >&2 && die "unknown argument: $1" ;;
		esac
		shift
	done
	if [[ $WRITE_DOCS == auto ]]; then WRITE_DOCS=yes; fi
	local v
	for v in "$ROUNDS" "$DURATION" "$WARMUP" "$CONNECTIONS"; do
		[[ $v =~ ^[1-9][0-9]*$ ]] || die "rounds, durations and connections are positive integers, got '$v'"
	done
	for v in GATEHOUSE_BIN BASELINE_BIN; do
		if [[ -n ${!v} ]]; then
			[[ -f ${!v} && -x ${!v} ]] || die "${!v} is not an executable file"
			printf -v "$v" '%s' "$(realpath "${!v}")"
		fi
	done
}

check_prereqs() {
	local tool
	for tool in wrk nginx caddy taskset curl go getconf pgrep git; do
		command -v "$tool" >/dev/null || die "$tool is not installed"
	done
	[[ $SERVER_CPU != "$CLIENT_CPU" ]] || die "the servers and wrk need different CPUs"
	taskset -c "$SERVER_CPU,$CLIENT_CPU" true 2>/dev/null ||
		die "CPUs $SERVER_CPU and $CLIENT_CPU must both exist (this machine has $(nproc)); set BENCH_SERVER_CPU and BENCH_CLIENT_CPU"
}

# ---------------------------------------------------------------------------------------
# Processes: track, alive, stop_pid, stop_all and cleanup are in bench/lib.sh.

# stop_all: stops everything started, newest first; workers last, so that their master
# stops them (a worker stopped first would be replaced) and only a stray one is left to us.

declare -a TICKS=()

# cpu_ticks PID...: sets TICKS to (utime stime) of the processes, all their threads, in
# clock ticks.
cpu_ticks() {
	local user=0 sys=0 pid stat rest
	local -a f
	for pid in "$@"; do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || die "process $pid exited during the run"
		rest=${stat##*) } # the command name may hold spaces and parentheses; skip past it
		read -r -a f <<<"$rest"
		user=$((user + f[11])) # field 14 in proc(5)
		sys=$((sys + f[12]))   # field 15
	done
	TICKS=("$user" "$sys")
}

# wait_http URL PID LOG: until URL answers 200 "hello", while PID runs; at most 15 s.
wait_http() { # URL PID LOG [HEADER]
	local url=$1 pid=$2 log=$3 i body
	local -a hdr=()
	if [[ -n ${4:-} ]]; then hdr=(-H "$4"); fi
	for ((i = 0; i < 150; i++)); do
		alive "$pid" || die "process $pid exited while starting; $log says:$(printf '\n'; tail -n 20 "$log")"
		if body=$(curl --noproxy '*' -sf --max-time 1 "${hdr[@]}" "$url" 2>/dev/null) && [[ $body == hello ]]; then
			return 0
		fi
		sleep 0.1
	done
	die "$url did not answer 200 \"hello\" within 15 s; see $log"
}

free_port() { "$RUN/bin/benchreport" freeport 1; }

# ---------------------------------------------------------------------------------------
# nginx, as the origin and as a proxy.

# write_nginx_conf DIR SERVER_BLOCKS: a self-contained nginx with one worker, everything
# under DIR, no access log. Client connections are kept for good (keepalive_requests) so
# that wrk does not reconnect every 1000 requests, nginx's default; Caddy and Gatehouse
# have no such limit.
write_nginx_conf() {
	local dir=$1 servers=$2
	mkdir -p "$dir/tmp"
	cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
$servers
}
EOF
}

# start_nginx DIR PORT: runs the nginx of DIR in the foreground (daemon off) on the server
# CPU; sets NGINX_PIDS to its master and its worker.
start_nginx() {
	local dir=$1 port=$2 pid w
	taskset -c "$SERVER_CPU" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' \
		>"$dir/stdout.log" 2>&1 &
	pid=$!
	track "$pid" nginx
	wait_http "http://127.0.0.1:$port/" "$pid" "$dir/error.log"
	NGINX_PIDS=("$pid")
	for w in $(pgrep -P "$pid"); do
		track "$w" nginx worker
		NGINX_PIDS+=("$w")
	done
	((${#NGINX_PIDS[@]} == 2)) || die "nginx $pid: want a master and one worker, found ${#NGINX_PIDS[@]} processes"
}

# The origin: a separate nginx answering every request with 200 "hello\n". Sets
# ORIGIN_PORT and ORIGIN_PIDS.
start_origin() {
	local dir="$RUN/origin"
	ORIGIN_PORT=$(free_port)
	write_nginx_conf "$dir" "    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        location / { return 200 \"hello\\n\"; }
    }"
	start_nginx "$dir" "$ORIGIN_PORT"
	ORIGIN_PIDS=("${NGINX_PIDS[@]}")
	say "origin: nginx on 127.0.0.1:$ORIGIN_PORT"
}

# ---------------------------------------------------------------------------------------
# Targets. Every server is started once and stays up (idle when not under load); the
# rounds then measure them in turn, so what else the machine does spreads over all of them.

declare -a TARGETS=() # ids, in table order
declare -A LABEL=() URL=() PIDS=() HEADER=()

add_target() { # ID LABEL URL "PID..." [HEADER]: PID... are the processes whose CPU counts
	TARGETS+=("$1")
	LABEL[$1]=$2
	URL[$1]=$3
	PIDS[$1]=$4
	HEADER[$1]=${5:-}
}

declare -A SKIPPED=()

skip() { # ID LABEL REASON: a row of the table that says why it was not measured
	TARGETS+=("$1")
	LABEL[$1]=$2
	SKIPPED[$1]=$3
}

# 1. The origin, directly: its CPU per request is the floor under every proxy.
setup_origin() {
	add_target origin "origin direct (nginx \`return 200\`)" "http://127.0.0.1:$ORIGIN_PORT/" "${ORIGIN_PIDS[*]}"
}

# 2. nginx as a plain reverse proxy: one worker, upstream keep-alive.
setup_nginx() {
	local dir="$RUN/nginx" port
	port=$(free_port)
	write_nginx_conf "$dir" "    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"
	start_nginx "$dir" "$port"
	add_target nginx "nginx (1 worker)" "http://127.0.0.1:$port/" "${NGINX_PIDS[*]}"
}

# 3. Caddy as a plain reverse proxy, its upstream keep-alive pool raised to 128, with
# GOMAXPROCS=1 since it has one core. No admin endpoint; its state stays in the run directory.
setup_caddy() {
	local dir="$RUN/caddy" port pid
	port=$(free_port)
	mkdir -p "$dir"
	cat >"$dir/Caddyfile" <<EOF
{
	admin off
	auto_https off
}
http://:$port {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$ORIGIN_PORT {
		transport http {
			keepalive_idle_conns 128
			keepalive_idle_conns_per_host 128
		}
	}
}
EOF
	HOME="$dir" XDG_CONFIG_HOME="$dir/config" XDG_DATA_HOME="$dir/data" GOMAXPROCS=1 \
		taskset -c "$SERVER_CPU" caddy run --config "$dir/Caddyfile" --adapter caddyfile \
		>"$dir/caddy.log" 2>&1 &
	pid=$!
	track "$pid" caddy
	wait_http "http://127.0.0.1:$port/" "$pid" "$dir/caddy.log"
	add_target caddy "Caddy (GOMAXPROCS=1)" "http://127.0.0.1:$port/" "$pid"
}

# start_gatehouse NAME YAML BIN: a fresh node of the binary BIN under $RUN/NAME with
# GOMAXPROCS=1, its listeners on :0 ports (read back from --addr-file), configured with
# `gatehouse apply -f` of the declarative document YAML, whose API must answer GET / with the
# origin's "hello". Sets GH_BIN, GH_PID, GH_PROXY and GH_ADMIN.
start_gatehouse() {
	local dir="$RUN/$1" yaml=$2 comm i
	GH_BIN=$3
	comm=$(basename "$GH_BIN")
	mkdir -p "$dir"
	GATEHOUSE_ADMIN_TOKEN="$ADMIN_TOKEN" GOMAXPROCS=1 \
		taskset -c "$SERVER_CPU" "$GH_BIN" serve --data-dir "$dir/data" \
		--proxy-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --portal-addr 127.0.0.1:0 \
		--addr-file "$dir/addrs.json" --shutdown-timeout 1s \
		>"$dir/gatehouse.log" 2>&1 &
	GH_PID=$!
	track "$GH_PID" "${comm:0:15}" # the kernel keeps 15 characters of the name
	for ((i = 0; i < 150; i++)); do
		[[ -s $dir/addrs.json ]] && break
		alive "$GH_PID" || die "gatehouse exited while starting:$(printf '\n'; tail -n 20 "$dir/gatehouse.log")"
		sleep 0.1
	done
	GH_PROXY=$(addr_of proxy "$dir/addrs.json")
	GH_ADMIN=$(addr_of admin "$dir/addrs.json")
	printf '%s\n' "$yaml" >"$dir/api.yaml"
	gatehouse_cli apply -f "$dir/api.yaml" >>"$dir/gatehouse.log" 2>&1 ||
		die "gatehouse apply failed:$(printf '\n'; tail -n 20 "$dir/gatehouse.log")"
	if [[ -z ${GH_NO_WAIT:-} ]]; then wait_http "http://$GH_PROXY/" "$GH_PID" "$dir/gatehouse.log"; fi
}

gatehouse_cli() { # ARGS...: the CLI, against the node start_gatehouse started last
	GATEHOUSE_ADMIN_URL="http://$GH_ADMIN" GATEHOUSE_TOKEN="$ADMIN_TOKEN" "$GH_BIN" "$@"
}

# plain_api: the declarative document of one published API at /, the origin its single
# target, no policies.
plain_api() {
	cat <<EOF
apis:
  - name: bench
    state: published
    path: /
    upstream:
      targets:
        - url: http://127.0.0.1:$ORIGIN_PORT
EOF
}

# 4a. Gatehouse as a plain reverse proxy.
setup_gatehouse() {
	start_gatehouse gatehouse "$(plain_api)" "${GATEHOUSE_BIN:-$RUN/bin/gatehouse}"
	add_target gatehouse "Gatehouse (no policies, GOMAXPROCS=1)" "http://$GH_PROXY/" "$GH_PID"
}

# 4a''. The same node with net/http's server on the proxy listener (proxy_server:
# net/http), the fallback to the default, Gatehouse's own (internal/h1server).
setup_gatehouse_nethttp() {
	GATEHOUSE_PROXY_SERVER=net/http start_gatehouse gatehouse-nethttp "$(plain_api)" "${GATEHOUSE_BIN:-$RUN/bin/gatehouse}"
	add_target gatehouse-nethttp "Gatehouse, proxy_server: net/http (no policies, GOMAXPROCS=1)" "http://$GH_PROXY/" "$GH_PID"
}

# 4a'. With --baseline-bin: another Gatehouse binary, set up the same way, for A/B.
setup_gatehouse_baseline() {
	if [[ -z $BASELINE_BIN ]]; then return 0; fi
	local label="Gatehouse baseline (no policies, GOMAXPROCS=1)"
	if [[ -n $BASELINE_PROXY_SERVER ]]; then
		label="Gatehouse baseline, proxy_server: $BASELINE_PROXY_SERVER (no policies, GOMAXPROCS=1)"
	fi
	GATEHOUSE_PROXY_SERVER=${BASELINE_PROXY_SERVER:-${GATEHOUSE_PROXY_SERVER:-}} \
		start_gatehouse gatehouse-baseline "$(plain_api)" "$BASELINE_BIN"
	add_target gatehouse-baseline "$label" "http://$GH_PROXY/" "$GH_PID"
}

# policy_api: plain_api with key-auth, and a plan with a rate limit and a daily quota that
# an app subscribes to: key-auth, the subscription check, a GCRA check and a quota count
# (with their response headers) on every request. The limits are far above what the load
# reaches, so every response stays 2xx. Analytics records every request in every
# Gatehouse row: it is on by default.
policy_api() {
	cat <<EOF
apis:
  - name: bench
    state: published
    path: /
    upstream:
      targets:
        - url: http://127.0.0.1:$ORIGIN_PORT
    policies:
      - type: key-auth
plans:
  - name: bench-plan
    apis: [bench]
    rate_limit: {limit: 100000000, window: 1s}
    quota: {limit: 1000000000000, period: day}
developers:
  - email: bench@example.com
    name: Bench
apps:
  - name: bench-app
    developer: bench@example.com
subscriptions:
  - {app: bench-app, plan: bench-plan}
EOF
}

# 4b. Gatehouse with key-auth + rate limit + quota (and analytics, as every row). The API
# answers 401 until the key exists, so start_gatehouse is told not to wait for a 200.
setup_gatehouse_policies() {
	local key
	GH_NO_WAIT=1 start_gatehouse gatehouse-policies "$(policy_api)" "${GATEHOUSE_BIN:-$RUN/bin/gatehouse}"
	key=$(gatehouse_cli key create --app bench-app -o json 2>/dev/null | grep -oE '"key" *: *"gh_[^"]+"' | sed -E 's/.*"([^"]+)"$/\1/')
	[[ -n $key ]] || die "could not create the bench key"
	wait_http "http://$GH_PROXY/" "$GH_PID" "$RUN/gatehouse-policies/gatehouse.log" "X-Api-Key: $key"
	add_target gatehouse-policies "Gatehouse (key-auth + rate limit + quota, GOMAXPROCS=1)" \
		"http://$GH_PROXY/" "$GH_PID" "X-Api-Key: $key"
}

# ---------------------------------------------------------------------------------------
# Measuring.

# measure ID ROUND: a warm-up, then one measured wrk run, with the CPU ticks of the
# target's processes, of the origin and of the two CPUs (/proc/stat, to see whether anything
# else ran on them) read just before and just after it.
measure() {
	local id=$1 round=$2 base="$1.r$2"
	local -a pids wrk
	read -r -a pids <<<"${PIDS[$id]}"
	wrk=(taskset -c "$CLIENT_CPU" wrk -t"$THREADS" -c"$CONNECTIONS")
	if [[ -n ${HEADER[$id]} ]]; then wrk+=(-H "${HEADER[$id]}"); fi

	say "round $round/$ROUNDS, ${LABEL[$id]}: ${WARMUP}s warm-up, ${DURATION}s measured"
	"${wrk[@]}" -d"${WARMUP}s" "${URL[$id]}" >"$RUN/$base.warmup.txt"
	if grep -qE 'Non-2xx|Socket errors' "$RUN/$base.warmup.txt"; then
		say "warning: errors during the warm-up:$(printf '\n'; grep -E 'Non-2xx|Socket errors' "$RUN/$base.warmup.txt")"
	fi

	local t0 t1
	local -a p0 o0 p1 o1
	cpu_lines before >"$RUN/$base.stat.txt"
	cpu_ticks "${pids[@]}"; p0=("${TICKS[@]}")
	cpu_ticks "${ORIGIN_PIDS[@]}"; o0=("${TICKS[@]}")
	t0=$(date +%s%N)
	"${wrk[@]}" -d"${DURATION}s" --latency "${URL[$id]}" >"$RUN/$base.wrk.txt"
	t1=$(date +%s%N)
	cpu_ticks "${pids[@]}"; p1=("${TICKS[@]}")
	cpu_ticks "${ORIGIN_PIDS[@]}"; o1=("${TICKS[@]}")
	cpu_lines after >>"$RUN/$base.stat.txt"

	local user=$((p1[0] - p0[0])) sys=$((p1[1] - p0[1])) origin=$((o1[0] + o1[1] - o0[0] - o0[1]))
	printf '%s\t%s\t%d\tok\t%s\t%d\t%d\t%d\t%d\t%s\n' "$id" "${LABEL[$id]}" "$round" "$base.wrk.txt" \
		"$user" "$sys" "$origin" $((t1 - t0)) "$base.stat.txt" >>"$RUN/results.tsv"
	{
		grep -E 'Requests/sec|^ +(50|99)%|Non-2xx|Socket errors' "$RUN/$base.wrk.txt" | tr -s ' '
		echo "CPU ticks: server $user user + $sys sys, origin $origin"
	} | paste -sd ' ' | sed 's/^/      /' >&2
}

cpu_lines() { # WHEN: the /proc/stat lines of the server and client CPUs, as "WHEN server|client cpuN ..."
	local line
	while read -r line; do
		case $line in
		"cpu$SERVER_CPU "*) echo "$1 server $line" ;;
		"cpu$CLIENT_CPU "*) echo "$1 client $line" ;;
		esac
	done </proc/stat
}

# ---------------------------------------------------------------------------------------

write_meta() {
	local rev caddy_go
	rev="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then
		rev+=" with uncommitted changes in the tree"
	fi
	if [[ -n $GATEHOUSE_BIN ]]; then rev="the binary $GATEHOUSE_BIN"; fi
	caddy_go=$(caddy build-info 2>/dev/null | awk '$1 == "go" { print $2 }')
	{
		echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "nproc=$(nproc)"
		echo "cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
		echo "kernel=$(uname -r)"
		echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "clk_tck=$(getconf CLK_TCK)"
		echo "nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //')"
		echo "caddy=$(caddy version)"
		echo "caddy_go=${caddy_go:-unknown Go}"
		echo "go=$(go version | sed 's/^go version //')"
		echo "wrk=$(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }')"
		echo "gatehouse_rev=$rev"
		echo "baseline_bin=$BASELINE_BIN"
		echo "command=$COMMAND"
		echo "rounds=$ROUNDS"
		echo "duration=$DURATION"
		echo "warmup=$WARMUP"
		echo "connections=$CONNECTIONS"
		echo "threads=$THREADS"
		echo "server_cpu=$SERVER_CPU"
		echo "client_cpu=$CLIENT_CPU"
	} >"$RUN/meta.env"
}

main() {
	parse_args "$@"
	check_prereqs
	RUN=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
	chmod 755 "$RUN" # nginx workers run as nobody when started by root
	trap cleanup EXIT
	trap 'say "interrupted"; exit 130' INT TERM

	say "building gatehouse and the report helper (run directory $RUN)"
	mkdir -p "$RUN/bin"
	if [[ -z $GATEHOUSE_BIN ]]; then
		(cd "$ROOT" && go build -o "$RUN/bin/gatehouse" ./cmd/gatehouse) || die "go build ./cmd/gatehouse failed"
	fi
	(cd "$ROOT" && go build -o "$RUN/bin/benchreport" ./bench/cmd/benchreport) || die "go build ./bench/cmd/benchreport failed"
	write_meta
	: >"$RUN/results.tsv"

	start_origin
	setup_origin
	setup_nginx
	setup_caddy
	setup_gatehouse
	setup_gatehouse_nethttp
	setup_gatehouse_baseline
	setup_gatehouse_policies
	local round id
	for ((round = 1; round <= ROUNDS; round++)); do
		for id in "${TARGETS[@]}"; do
			if [[ -z ${SKIPPED[$id]:-} ]]; then
				measure "$id" "$round"
			elif ((round == 1)); then
				say "${LABEL[$id]}: ${SKIPPED[$id]}"
				printf '%s\t%s\t0\tskipped\t%s\t0\t0\t0\t0\t-\n' "$id" "${LABEL[$id]}" "${SKIPPED[$id]}" >>"$RUN/results.tsv"
			fi
		done
	done
	stop_all

	local docs=()
	if [[ $WRITE_DOCS == yes ]]; then docs=(-docs "$DOCS"); fi
	echo
	"$RUN/bin/benchreport" report -dir "$RUN" "${docs[@]}"
}

main "$@"
