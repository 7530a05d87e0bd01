#!/usr/bin/env bash
# Analytics counts under load: one Gatehouse node (SQLite, analytics on with its defaults)
# and an origin pinned to one CPU, bench/cmd/loadcount on another, sending 20,000 requests
# per second for 60 s open-loop; then the node's query API (GET /v1/analytics/totals) must
# count exactly the answers loadcount got. Two scenarios, one after the other on the same
# node: an API without policies, and an API with key-auth and a plan's (generous) rate
# limit. Prints the result and writes it into docs/benchmarks.md (section "Analytics:
# counts under load").
#
#   bench/analytics-load.sh            both scenarios, 60 s each (3 to 4 minutes), writes the doc
#   bench/analytics-load.sh --quick    5 s each, prints only
#   bench/analytics-load.sh --help
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DOCS="$ROOT/docs/benchmarks.md"
COMMAND="bench/analytics-load.sh${*:+ $*}"

RATE=20000
DURATION=60
CONNECTIONS=128
SCENARIOS="plain keyed"
SERVER_CPU=${BENCH_SERVER_CPU:-0}          # the node, alone: the figure is about what it counts at 20,000/s
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}          # loadcount
ORIGIN_CPU=${BENCH_ORIGIN_CPU:-$CLIENT_CPU} # the origin (a fixed "hello" answer)
WRITE_DOCS=auto
KEEP=0
GATEHOUSE_BIN=${BENCH_GATEHOUSE_BIN:-} # empty: build ./cmd/gatehouse from this tree
ADMIN_TOKEN=gatehouse-bench-admin-token # for the throwaway node (16+ characters)

usage() {
	cat <<EOF
Usage: bench/analytics-load.sh [options]

Sends $RATE req/s for ${DURATION}s through one Gatehouse node on 127.0.0.1 (pinned alone to
CPU $SERVER_CPU; the origin on CPU $ORIGIN_CPU, loadcount on CPU $CLIENT_CPU) and checks that the node's query
API counts exactly the answers the load generator got. Scenarios: "plain" (an API without
policies) and "keyed" (key-auth and a plan with a rate limit of 1,000,000 per second).

  --quick            5 s per scenario; does not write the doc
  --rate N           requests per second (default $RATE)
  --duration SECS    seconds of load per scenario (default $DURATION)
  --connections N    loadcount's keep-alive connections (default $CONNECTIONS)
  --only SCENARIO    plain or keyed: run only that one (never writes the doc)
  --docs, --no-docs  write the results into docs/benchmarks.md, or not
                     (default: a run without --quick writes them, if the counts agree)
  --keep             keep the run directory (logs, JSON results, the node's data)
  --gatehouse-bin F  use this Gatehouse binary instead of building ./cmd/gatehouse
                     (env BENCH_GATEHOUSE_BIN)
  -h, --help         this text

CPUs: \$BENCH_SERVER_CPU (default 0) for the node, \$BENCH_CLIENT_CPU (default 1) for
loadcount, \$BENCH_ORIGIN_CPU (default: loadcount's) for the origin.
EOF
}

parse_args() {
	local quick=0 v
	while (($#)); do
		case $1 in
		--quick) quick=1 ;;
		--rate) RATE=${2:?--rate needs a value} && shift ;;
		--duration) DURATION=${2:?--duration needs a value} && shift ;;
		--connections) CONNECTIONS=${2:?--connections needs a value} && shift ;;
		--only) SCENARIOS=${2:?--only needs a scenario} && shift ;;
		--docs) WRITE_DOCS=yes ;;
		--no-docs) WRITE_DOCS=no ;;
		--keep) KEEP=1 ;;
		--gatehouse-bin) GATEHOUSE_BIN=${2:?--gatehouse-bin needs a file} && shift ;;
		-h | --help) usage && exit 0 ;;
		*) usage >&2 && die "unknown argument: $1" ;;
		esac
		shift
	done
	if ((quick)); then
		[[ $COMMAND == *--duration* ]] || DURATION=5 # an explicit --duration wins
		[[ $WRITE_DOCS == yes ]] || WRITE_DOCS=no
	fi
	case $SCENARIOS in
	plain | keyed) WRITE_DOCS=no ;;
	"plain keyed") ;;
	*) die "--only: want plain or keyed, got '$SCENARIOS'" ;;
	esac
	[[ $WRITE_DOCS != auto ]] || WRITE_DOCS=yes
	for v in "$RATE" "$DURATION" "$CONNECTIONS"; do
		[[ $v =~ ^[1-9][0-9]*$ ]] || die "rate, duration and connections are positive integers, got '$v'"
	done
	if [[ -n $GATEHOUSE_BIN ]]; then
		[[ -f $GATEHOUSE_BIN && -x $GATEHOUSE_BIN ]] || die "$GATEHOUSE_BIN is not an executable file"
		GATEHOUSE_BIN=$(realpath "$GATEHOUSE_BIN")
	fi
	command -v taskset >/dev/null || die "taskset is not installed (util-linux)"
	for v in go curl git; do command -v "$v" >/dev/null || die "$v is not installed"; done
	[[ $SERVER_CPU != "$CLIENT_CPU" ]] || die "the node and loadcount need different CPUs"
	taskset -c "$SERVER_CPU,$CLIENT_CPU" true 2>/dev/null ||
		die "CPUs $SERVER_CPU and $CLIENT_CPU must both exist (this machine has $(nproc)); set BENCH_SERVER_CPU and BENCH_CLIENT_CPU"
}

# launch NAME COMM CPU CMD...: CMD in the background on CPU, output to $RUN/NAME.log, tracked
# once it has exec'd COMM (until then /proc/PID/comm names taskset). Sets PID.
launch() {
	local name=$1 comm=$2 cpu=$3 i
	shift 3
	taskset -c "$cpu" "$@" >"$RUN/$name.log" 2>&1 &
	PID=$!
	for ((i = 0; i < 200; i++)); do
		if [[ $(cat "/proc/$PID/comm" 2>/dev/null) == "$comm" || ! -e /proc/$PID ]]; then break; fi
		sleep 0.01
	done
	track "$PID" "$comm"
}

# await FILE PID NAME: FILE written, while PID runs (at most 15 s).
await() {
	local i
	for ((i = 0; i < 150; i++)); do
		if [[ -s $1 ]]; then return 0; fi
		alive "$2" || die "$3 exited while starting:$(printf '\n'; tail -n 20 "$RUN/$3.log")"
		sleep 0.1
	done
	die "$3 did not write $1 in 15 s; see $RUN/$3.log"
}

# call METHOD PATH [JSON]: the node's admin API; prints the body, dies unless 2xx.
call() {
	local out
	out=$(curl --noproxy '*' -sS -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $ADMIN_TOKEN" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} --max-time 10 "http://$ADMIN$2") ||
		die "admin API $1 $2: curl failed"
	[[ ${out##*$'\n'} == 2* ]] || die "admin API $1 $2: ${out##*$'\n'} ${out%$'\n'*}"
	echo "${out%$'\n'*}"
}

field() { # NAME: the value of the first "NAME": "string" or number in stdin
	sed -nE "s/.*\"$1\" *: *\"?([^\",}]*).*/\\1/p" | head -n 1
}

# ready URL [HEADER]: until URL answers "hello" through the node (at most 10 s). The probes
# are counted by analytics like any request; loadcount subtracts what was counted before
# its load.
ready() {
	local i
	for ((i = 0; i < 100; i++)); do
		if [[ $(curl --noproxy '*' -s --max-time 1 ${2:+-H "$2"} "$1" 2>/dev/null) == hello ]]; then return 0; fi
		alive "$GH_PID" || die "gatehouse exited:$(printf '\n'; tail -n 20 "$RUN/gatehouse.log")"
		sleep 0.1
	done
	die "$1 did not answer \"hello\" within 10 s"
}

# setup: the APIs "plain" at /plain (no policies) and "keyed" at /keyed (key-auth; plan
# "bench-plan" with a rate limit of 1,000,000 per second; an app subscribed, with a key).
setup() {
	local rev
	call POST /v1/apis "{\"name\": \"plain\", \"state\": \"published\", \"path\": \"/plain\",
		\"upstream\": {\"targets\": [{\"url\": \"http://$ORIGIN\"}]}}" >/dev/null
	call POST /v1/apis "{\"name\": \"keyed\", \"state\": \"published\", \"path\": \"/keyed\",
		\"upstream\": {\"targets\": [{\"url\": \"http://$ORIGIN\"}]}, \"policies\": [{\"type\": \"key-auth\"}]}" >/dev/null
	rev=$(call POST /v1/plans '{"name": "bench-plan", "apis": ["keyed"], "rate_limit": {"limit": 1000000, "window": "1s"}}' | field revision)
	call POST /v1/developers '{"email": "bench@example.com"}' >/dev/null
	call POST /v1/apps '{"name": "bench-app", "developer": "bench@example.com"}' >/dev/null
	call POST /v1/subscriptions '{"app": "bench-app", "plan": "bench-plan"}' >/dev/null
	KEY=$(call POST /v1/apps/bench-app/keys | field key)
	[[ $KEY == gh_* ]] || die "no API key from POST /v1/apps/bench-app/keys"
	local i
	for ((i = 0; i < 100; i++)); do
		(($(call GET /v1/gateway | field revision) >= rev)) && break
		sleep 0.1
	done
	ready "http://$PROXY/plain/"
	ready "http://$PROXY/keyed/" "X-API-Key: $KEY"
}

write_meta() {
	local rev
	rev="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	[[ -z $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] || rev+=" with uncommitted changes in the tree"
	[[ -z $GATEHOUSE_BIN ]] || rev="the binary $GATEHOUSE_BIN"
	cat >"$RUN/meta.env" <<EOF
date=$(date -u '+%Y-%m-%d %H:%M UTC')
nproc=$(nproc)
cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
kernel=$(uname -r)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
go=$(go version | sed 's/^go version //')
gatehouse_rev=$rev
command=$COMMAND
server_cpu=CPU $SERVER_CPU
client_cpu=CPU $CLIENT_CPU
origin_cpu=CPU $ORIGIN_CPU
pinning=the Gatehouse node (GOMAXPROCS 1 from its affinity) on CPU $SERVER_CPU; the origin (\`loadcount origin\`) on CPU $ORIGIN_CPU; loadcount on CPU $CLIENT_CPU (taskset)
EOF
}

main() {
	parse_args "$@"
	RUN=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-analytics-load.XXXXXX")
	trap cleanup EXIT
	trap 'say "interrupted"; exit 130' INT TERM

	local -a pkgs=(./bench/cmd/loadcount)
	[[ -n $GATEHOUSE_BIN ]] || pkgs+=(./cmd/gatehouse)
	say "building ${pkgs[*]} (run directory $RUN)"
	mkdir -p "$RUN/bin"
	(cd "$ROOT" && go build -o "$RUN/bin/" "${pkgs[@]}") || die "go build ${pkgs[*]} failed"
	GH_BIN=${GATEHOUSE_BIN:-$RUN/bin/gatehouse}
	write_meta

	launch origin loadcount "$ORIGIN_CPU" "$RUN/bin/loadcount" origin -addr 127.0.0.1:0 -addr-file "$RUN/origin.addr"
	local origin_pid=$PID
	await "$RUN/origin.addr" "$PID" origin
	ORIGIN=$(<"$RUN/origin.addr")

	launch gatehouse "$(basename "$GH_BIN" | cut -c1-15)" "$SERVER_CPU" env GATEHOUSE_ADMIN_TOKEN="$ADMIN_TOKEN" \
		"$GH_BIN" serve --data-dir "$RUN/data" --proxy-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
		--portal-addr 127.0.0.1:0 --addr-file "$RUN/addrs.json" --log-level warn --shutdown-timeout 5s
	GH_PID=$PID
	await "$RUN/addrs.json" "$GH_PID" gatehouse
	PROXY=$(addr_of proxy "$RUN/addrs.json")
	ADMIN=$(addr_of admin "$RUN/addrs.json")
	setup
	say "origin $ORIGIN (CPU $ORIGIN_CPU), gatehouse proxy $PROXY, admin $ADMIN (CPU $SERVER_CPU); loadcount on CPU $CLIENT_CPU"

	local -a results=() hdr=()
	local status=0 scenario label
	for scenario in $SCENARIOS; do
		hdr=() label="no policies"
		if [[ $scenario == keyed ]]; then hdr=(-header "X-API-Key: $KEY") label="key-auth + rate limit"; fi
		say "$scenario ($label): $RATE req/s for ${DURATION}s over $CONNECTIONS connections"
		taskset -c "$CLIENT_CPU" "$RUN/bin/loadcount" -rate "$RATE" -duration "${DURATION}s" -connections "$CONNECTIONS" \
			"${hdr[@]}" -admin "http://$ADMIN" -token "$ADMIN_TOKEN" -api "$scenario" -label "$label" \
			-pid "gatehouse=$GH_PID" -pid "origin=$origin_pid" -out "$RUN/$scenario.json" \
			"http://$PROXY/$scenario/" >/dev/null || status=$?
		[[ -s $RUN/$scenario.json ]] || die "loadcount failed (exit $status) without a result"
		results+=("$RUN/$scenario.json")
		alive "$GH_PID" || die "gatehouse exited during the run; see $RUN/gatehouse.log"
	done
	if grep -qiE 'level=(error|warn)|panic' "$RUN/gatehouse.log"; then
		say "gatehouse logged warnings or errors:$(printf '\n'; grep -iE 'level=(error|warn)|panic' "$RUN/gatehouse.log" | head -n 5)"
	fi
	stop_all

	local docs=()
	if [[ $WRITE_DOCS == yes && $status == 0 ]]; then docs=(-docs "$DOCS"); fi
	if [[ $WRITE_DOCS == yes && $status != 0 ]]; then say "the counts disagree: docs/benchmarks.md left alone"; fi
	echo
	"$RUN/bin/loadcount" report -meta "$RUN/meta.env" "${docs[@]}" "${results[@]}" || status=$?
	return "$status"
}

main "$@"
