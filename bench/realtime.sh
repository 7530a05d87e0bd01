#!/usr/bin/env bash
# The realtime benchmark: SSE fan-out on one channel through Gatehouse (a realtime API with
# key-auth and a plan's rate limit) and through Debian's Pushpin 1.36 tuned for throughput
# (message_rate=0, a large message_hwm), in the same run, on 127.0.0.1. For each: N
# subscribers connect (bench/cmd/rtbench), the servers' memory per held connection is read
# from /proc, then messages are published at a pace Pushpin sustains and then as fast as
# the publish API takes them. The servers and the GRIP origin (bench/cmd/griporigin) run on
# CPU 0, rtbench on CPU 1. Prints a markdown table and writes it into docs/benchmarks.md
# (section "Realtime (SSE fan-out) against Pushpin").
#
#   bench/realtime.sh            10,000 subscribers (about 10 minutes), writes the doc
#   bench/realtime.sh --quick    1,000 subscribers, fewer messages (about a minute), prints only
#   bench/realtime.sh --help
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCS="$ROOT/docs/benchmarks.md"
COMMAND="bench/realtime.sh${*:+ $*}"

SUBSCRIBERS=10000
CONCURRENCY=""      # connection attempts in flight; empty: all of them at once
MESSAGES=200        # paced phase
RATE=""             # paced phase, messages per second; empty: 10,000 deliveries/s offered
FLOOD=""            # flood phase messages; empty: 500,000 deliveries
IDLE=3              # seconds idle after connecting, before the memory reading
HOLD=0              # seconds connected and idle after it, before publishing
DRAIN=20            # seconds without a delivery after which a phase stops waiting
NOFILE=65536        # wanted open-files limit (capped at the hard limit)
SYSTEMS="pushpin gatehouse"
SERVER_CPU=${BENCH_SERVER_CPU:-0} # the servers and the origin
CLIENT_CPU=${BENCH_CLIENT_CPU:-1} # rtbench
MESSAGE_RATE=0      # Pushpin's handler message_rate (0: no limit)
MESSAGE_HWM=1000000 # Pushpin's handler message_hwm
WRITE_DOCS=auto
KEEP=0
GCTRACE=0
PERF=0
GATEHOUSE_BIN=${BENCH_GATEHOUSE_BIN:-} # empty: build ./cmd/gatehouse from this tree
PUSHPIN_BIN=${BENCH_PUSHPIN_BIN:-/usr/bin/pushpin}
PUSHPIN_LOG_LEVEL=${BENCH_PUSHPIN_LOG_LEVEL:-1} # 1: warnings; 2 logs every request, 3 every message
ADMIN_TOKEN=gatehouse-bench-admin-token # for the throwaway Gatehouse node (16+ characters)
CHANNEL=bench

usage() {
	cat <<EOF
Usage: bench/realtime.sh [options]

Connects SSE subscribers on one channel through Pushpin ($PUSHPIN_BIN, message_rate=0,
message_hwm=$MESSAGE_HWM) and through Gatehouse (key-auth, a plan with a rate limit), publishes
to the channel, and compares connection time, memory per held connection, publish-to-receipt
latency and deliveries per second. Everything binds 127.0.0.1.

  --quick            1,000 subscribers, 50 paced messages; does not write the doc
  --subscribers N    subscribers (default $SUBSCRIBERS)
  --concurrency N    connection attempts in flight at once (default: all subscribers)
  --messages N       messages of the paced phase (default $MESSAGES)
  --rate R           paced messages per second (default: 10,000 / subscribers, i.e.
                     10,000 deliveries per second, which Pushpin sustains)
  --flood N          messages of the flood phase, each published as soon as the previous
                     publish is answered (default: 500,000 / subscribers; 0: none)
  --hold SECS        keep the subscribers connected and idle this long after the memory
                     reading, before publishing (time to take a heap profile)
  --only SYSTEM      pushpin or gatehouse: measure only that one (never writes the doc)
  --message-rate N   Pushpin's message_rate (default $MESSAGE_RATE: no limit)
  --message-hwm N    Pushpin's message_hwm (default $MESSAGE_HWM)
  --docs, --no-docs  write the results into docs/benchmarks.md, or not
                     (default: a run without --quick writes them)
  --keep             keep the run directory (configs, logs, JSON results)
  --gctrace          run Gatehouse with GODEBUG=gctrace=1 (its log, in the run directory;
                     implies --keep)
  --perf             record Gatehouse with perf while rtbench runs (perf.data in the run
                     directory; implies --keep)
  --gatehouse-bin F  measure this Gatehouse binary instead of building ./cmd/gatehouse
                     (env BENCH_GATEHOUSE_BIN)
  -h, --help         this text

The servers and the origin run on CPU \$BENCH_SERVER_CPU (default 0), rtbench on CPU
\$BENCH_CLIENT_CPU (default 1). The open-files limit is raised to $NOFILE or the hard
limit, whichever is lower.
EOF
}

parse_args() {
	local quick=0
	while (($#)); do
		case $1 in
		--quick)
			quick=1
			if [[ $WRITE_DOCS == auto ]]; then WRITE_DOCS=no; fi
			;;
		--subscribers) SUBSCRIBERS=${2:?--subscribers needs a value} && shift ;;
		--concurrency) CONCURRENCY=${2:?--concurrency needs a value} && shift ;;
		--messages) MESSAGES=${2:?--messages needs a value} && shift ;;
		--rate) RATE=${2:?--rate needs a value} && shift ;;
		--flood) FLOOD=${2:?--flood needs a value} && shift ;;
		--hold) HOLD=${2:?--hold needs a value} && shift ;;
		--only) SYSTEMS=${2:?--only needs a value} && shift ;;
		--message-rate) MESSAGE_RATE=${2:?--message-rate needs a value} && shift ;;
		--message-hwm) MESSAGE_HWM=${2:?--message-hwm needs a value} && shift ;;
		--docs) WRITE_DOCS=yes ;;
		--no-docs) WRITE_DOCS=no ;;
		--keep) KEEP=1 ;;
		--gctrace) GCTRACE=1 KEEP=1 ;;
		--perf) PERF=1 KEEP=1 ;;
		--gatehouse-bin) GATEHOUSE_BIN=${2:?--gatehouse-bin needs a file} && shift ;;
		-h | --help) usage && exit 0 ;;
		*) usage >&2 && die "unknown argument: $1" ;;
		esac
		shift
	done
	if ((quick)); then
		# Flags given explicitly win over --quick's numbers, wherever --quick stands.
		[[ $COMMAND == *--subscribers* ]] || SUBSCRIBERS=1000
		[[ $COMMAND == *--messages* ]] || MESSAGES=50
	fi
	case $SYSTEMS in
	pushpin | gatehouse) WRITE_DOCS=no ;;
	"pushpin gatehouse") ;;
	*) die "--only: want pushpin or gatehouse, got '$SYSTEMS'" ;;
	esac
	if [[ $WRITE_DOCS == auto ]]; then WRITE_DOCS=yes; fi
	CONCURRENCY=${CONCURRENCY:-$SUBSCRIBERS}
	FLOOD=${FLOOD:-$(((500000 + SUBSCRIBERS - 1) / SUBSCRIBERS))}
	if [[ -z $RATE ]]; then RATE=$(awk -v n="$SUBSCRIBERS" 'BEGIN { printf "%g", 10000 / n }'); fi
	local v
	for v in "$SUBSCRIBERS" "$CONCURRENCY" "$IDLE" "$MESSAGE_HWM"; do
		[[ $v =~ ^[1-9][0-9]*$ ]] || die "subscribers, concurrency and message_hwm are positive integers, got '$v'"
	done
	for v in "$MESSAGES" "$FLOOD" "$MESSAGE_RATE" "$HOLD"; do
		[[ $v =~ ^[0-9]+$ ]] || die "messages, flood, message_rate and hold are integers, got '$v'"
	done
	((MESSAGES + FLOOD > 0)) || die "nothing to publish: --messages and --flood are both 0"
	[[ $RATE =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--rate: want a number, got '$RATE'"
	if [[ -n $GATEHOUSE_BIN ]]; then
		[[ -f $GATEHOUSE_BIN && -x $GATEHOUSE_BIN ]] || die "$GATEHOUSE_BIN is not an executable file"
		GATEHOUSE_BIN=$(realpath "$GATEHOUSE_BIN")
	fi
}

check_prereqs() {
	local tool
	for tool in go curl git taskset awk; do
		command -v "$tool" >/dev/null || die "$tool is not installed"
	done
	if [[ $SYSTEMS == *pushpin* ]]; then
		[[ -x $PUSHPIN_BIN ]] || die "$PUSHPIN_BIN is not installed (Debian: apt-get install pushpin)"
		local t
		for t in condure zurl pushpin-proxy pushpin-handler; do
			command -v "$t" >/dev/null || die "$t (part of Pushpin's setup) is not installed"
		done
	fi
	if ((PERF)); then command -v perf >/dev/null || die "--perf: perf is not installed"; fi
	[[ $SERVER_CPU != "$CLIENT_CPU" ]] || die "the servers and rtbench need different CPUs"
	taskset -c "$SERVER_CPU,$CLIENT_CPU" true 2>/dev/null ||
		die "CPUs $SERVER_CPU and $CLIENT_CPU must both exist (this machine has $(nproc)); set BENCH_SERVER_CPU and BENCH_CLIENT_CPU"
}

# raise_nofile: the soft limit up to NOFILE, or the hard limit if that is lower. Every
# process started from here inherits it (Go programs raise their own soft limit anyway).
raise_nofile() {
	local hard
	hard=$(ulimit -Hn)
	if [[ $hard == unlimited ]] || ((hard >= NOFILE)); then
		ulimit -n "$NOFILE"
	else
		say "open-files hard limit is $hard, below $NOFILE: using $hard"
		ulimit -n "$hard"
	fi
	NOFILE_NOTE="soft $(ulimit -Sn), hard $(ulimit -Hn) (wanted $NOFILE)"
	local need=$((SUBSCRIBERS + 1000))
	if (($(ulimit -Sn) < need)); then
		say "warning: $(ulimit -Sn) open files may be too few for $SUBSCRIBERS subscribers"
	fi
}

# ---------------------------------------------------------------------------------------
# Processes: track, alive, stop_pid, stop_all and cleanup are in bench/lib.sh.

# track_exec PID COMM: track a process started through taskset (or env), once it has
# exec'd COMM: until then /proc/PID/comm names the launcher and alive would say it is gone.
track_exec() {
	local pid=$1 comm=$2 i
	for ((i = 0; i < 200; i++)); do
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] && break
		[[ -e /proc/$pid ]] || break
		sleep 0.01
	done
	track "$pid" "$comm"
}

# descendants PID: the PIDs of its children, grandchildren...
descendants() {
	local pid=$1 f stat rest ppid child
	for f in /proc/[0-9]*/stat; do
		stat=$(cat "$f" 2>/dev/null) || continue
		rest=${stat##*) }
		read -r _ ppid _ <<<"$rest"
		if [[ $ppid == "$pid" ]]; then
			child=${f#/proc/}
			child=${child%/stat}
			echo "$child"
			descendants "$child"
		fi
	done
}

# ---------------------------------------------------------------------------------------

# The GRIP origin on the servers' CPU: GET /stream holds on channel $CHANNEL. Sets ORIGIN.
start_origin() {
	local dir="$RUN/origin" pid
	mkdir -p "$dir"
	taskset -c "$SERVER_CPU" "$RUN/bin/griporigin" -addr 127.0.0.1:0 -addr-file "$dir/addr" -channel "$CHANNEL" \
		>"$dir/origin.log" 2>&1 &
	pid=$!
	track_exec "$pid" griporigin
	wait_file "$dir/addr" "$pid" "$dir/origin.log"
	ORIGIN=$(<"$dir/addr")
	curl --noproxy '*' -sf --max-time 2 "http://$ORIGIN/" >/dev/null || die "the origin on $ORIGIN does not answer"
	say "origin: griporigin on $ORIGIN (CPU $SERVER_CPU)"
}

# start_pushpin: Pushpin in the foreground on 127.0.0.1 ports, its runner and children on
# the servers' CPU. Debian's internal.conf points the proxy at a system zurl (grip.md §4.4),
# so zurl runs as one of our services with its sockets in our rundir. Sets PP_PID, PP_URL,
# PP_PUBLISH.
start_pushpin() {
	local dir="$RUN/pushpin" http_port pub_port pull_port sub_port cmd_port i
	local -a ports
	mkdir -p "$dir/run" "$dir/log"
	mapfile -t ports < <("$RUN/bin/benchreport" freeport 5)
	((${#ports[@]} == 5)) || die "benchreport freeport 5 did not give 5 ports"
	http_port=${ports[0]} pub_port=${ports[1]} pull_port=${ports[2]} sub_port=${ports[3]} cmd_port=${ports[4]}
	cat >"$dir/pushpin.conf" <<EOF
[global]
include={libdir}/internal.conf
rundir=$dir/run
ipc_prefix=pushpin-
port_offset=0
stats_connection_ttl=120

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:$http_port
logdir=$dir/log
log_level=$PUSHPIN_LOG_LEVEL
client_buffer_size=8192
client_maxconn=50000
condure_bin=condure
zurl_bin=zurl

[proxy]
routesfile=routes
debug=false
auto_cross_origin=false
accept_x_forwarded_protocol=false
set_x_forwarded_protocol=proto-only
x_forwarded_for=
x_forwarded_for_trusted=
orig_headers_need_mark=
accept_pushpin_route=false
log_from=false
log_user_agent=false
sig_iss=pushpin
sig_key=changeme
upstream_key=
updates_check=off
organization_name=
zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in
zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream
zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out

[handler]
push_in_spec=tcp://127.0.0.1:$pull_port
push_in_sub_specs=tcp://127.0.0.1:$sub_port
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=$pub_port
stats_spec=ipc://{rundir}/{ipc_prefix}stats
command_spec=tcp://127.0.0.1:$cmd_port
message_rate=$MESSAGE_RATE
message_hwm=$MESSAGE_HWM
message_wait=5000
id_cache_ttl=60
connection_subscription_max=20
subscription_linger=60
stats_subscription_ttl=60
stats_report_interval=10
stats_format=tnetstring
EOF
	echo "* $ORIGIN" >"$dir/routes"
	(cd "$dir" && exec taskset -c "$SERVER_CPU" "$PUSHPIN_BIN" --config "$dir/pushpin.conf" --merge-output) \
		>"$dir/pushpin.log" 2>&1 &
	PP_PID=$!
	track_exec "$PP_PID" "$(basename "$PUSHPIN_BIN" | cut -c1-15)"
	PP_URL="http://127.0.0.1:$http_port/stream"
	PP_PUBLISH="http://127.0.0.1:$pub_port/publish/"
	for ((i = 0; i < 300; i++)); do
		alive "$PP_PID" || die "pushpin exited while starting:$(printf '\n'; tail -n 20 "$dir/pushpin.log")"
		if [[ $(curl --noproxy '*' -s --max-time 1 "http://127.0.0.1:$pub_port/" 2>/dev/null) == "Pushpin API" ]] &&
			curl --noproxy '*' -s -o /dev/null --max-time 1 -w '%{http_code}' "http://127.0.0.1:$http_port/" 2>/dev/null | grep -q '^[1-5]'; then
			break
		fi
		sleep 0.1
	done
	((i < 300)) || die "pushpin did not become ready within 30 s; see $dir/pushpin.log"
	# Its children stop with it; track them too, so that none outlives the run.
	local child comm
	for child in $(descendants "$PP_PID"); do
		comm=$(cat "/proc/$child/comm" 2>/dev/null) || continue
		track "$child" "$comm" worker
		PP_CHILDREN+="$comm($child) "
	done
	# A probe through the proxy: the origin's hold comes back as an SSE stream.
	local probe
	probe=$(curl --noproxy '*' -s -N --max-time 2 "$PP_URL" 2>/dev/null || true)
	[[ $probe == ":ok"* ]] || die "pushpin: GET /stream did not stream ':ok' (got '${probe:0:80}'); see $dir/pushpin.log"
	say "pushpin: $PP_URL, publish $PP_PUBLISH; processes ${PP_CHILDREN}(runner $PP_PID, CPU $SERVER_CPU)"
}

# admin METHOD PATH [JSON]: an admin API call of the Gatehouse node; prints the body, fails
# on a status other than 2xx.
admin() {
	local method=$1 path=$2 body=${3:-} out code
	local -a data=()
	if [[ -n $body ]]; then data=(-H 'Content-Type: application/json' --data-binary "$body"); fi
	out=$(curl --noproxy '*' -s -w '\n%{http_code}' -X "$method" -H "Authorization: Bearer $ADMIN_TOKEN" \
		"${data[@]}" --max-time 10 "http://$GH_ADMIN$path") || die "admin API $method $path: curl failed"
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	[[ $code == 2* ]] || die "admin API $method $path: $code $out"
	echo "$out"
}

json_field() { # NAME: the first "NAME": "string" or number in stdin
	grep -oE "\"$1\" *: *(\"[^\"]*\"|[0-9]+)" | head -n 1 | sed -E 's/^[^:]*: *"?([^"]*)"?$/\1/'
}

# start_gatehouse: a fresh node on 127.0.0.1 :0 ports on the servers' CPU, with the API
# "rt" at / (realtime on, key-auth), plan "rt-plan" (a generous rate limit), and an app
# subscribed to it with a key. Sets GH_PID, GH_URL, GH_PUBLISH, GH_KEY.
start_gatehouse() {
	local dir="$RUN/gatehouse" i rev r
	mkdir -p "$dir"
	local -a envs=(GATEHOUSE_ADMIN_TOKEN="$ADMIN_TOKEN")
	if ((GCTRACE)); then envs+=(GODEBUG=gctrace=1); fi
	env "${envs[@]}" taskset -c "$SERVER_CPU" "$GH_BIN" serve --data-dir "$dir/data" \
		--proxy-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --portal-addr 127.0.0.1:0 \
		--addr-file "$dir/addrs.json" --log-level warn --shutdown-timeout 1s \
		>"$dir/gatehouse.log" 2>&1 &
	GH_PID=$!
	track_exec "$GH_PID" "$(basename "$GH_BIN" | cut -c1-15)" # the kernel keeps 15 characters
	wait_file "$dir/addrs.json" "$GH_PID" "$dir/gatehouse.log"
	local proxy
	proxy=$(addr_of proxy "$dir/addrs.json")
	GH_ADMIN=$(addr_of admin "$dir/addrs.json")
	for ((i = 0; i < 100; i++)); do
		curl --noproxy '*' -sf --max-time 1 "http://$GH_ADMIN/healthz" >/dev/null 2>&1 && break
		alive "$GH_PID" || die "gatehouse exited while starting:$(printf '\n'; tail -n 20 "$dir/gatehouse.log")"
		sleep 0.1
	done

	admin POST /v1/apis "{\"name\": \"rt\", \"state\": \"published\", \"path\": \"/\",
		\"upstream\": {\"targets\": [{\"url\": \"http://$ORIGIN\"}]},
		\"policies\": [{\"type\": \"key-auth\"}],
		\"realtime\": {\"enabled\": true, \"sig_key\": \"bench-grip-signing-key\"}}" >/dev/null
	r=$(admin POST /v1/plans '{"name": "rt-plan", "apis": ["rt"], "rate_limit": {"limit": 1000000, "window": "1s"}}')
	rev=$(json_field revision <<<"$r")
	admin POST /v1/developers '{"email": "bench@example.com"}' >/dev/null
	admin POST /v1/apps '{"name": "rt-app", "developer": "bench@example.com"}' >/dev/null
	admin POST /v1/subscriptions '{"app": "rt-app", "plan": "rt-plan"}' >/dev/null
	GH_KEY=$(admin POST /v1/apps/rt-app/keys | json_field key)
	[[ $GH_KEY == gh_* ]] || die "gatehouse: no API key from POST /v1/apps/rt-app/keys"
	GH_URL="http://$proxy/stream"
	GH_PUBLISH="http://$GH_ADMIN/publish/"
	# Until the route table has the plan and the directory the subscription, the stream
	# answers 404 or 403; then it streams the origin's ":ok".
	local probe=""
	for ((i = 0; i < 100; i++)); do
		probe=$(curl --noproxy '*' -s -N --max-time 1 -H "X-API-Key: $GH_KEY" "$GH_URL" 2>/dev/null || true)
		[[ $probe == ":ok"* ]] && break
		alive "$GH_PID" || die "gatehouse exited:$(printf '\n'; tail -n 20 "$dir/gatehouse.log")"
		sleep 0.1
	done
	[[ $probe == ":ok"* ]] || die "gatehouse: GET /stream with the key did not stream ':ok' (got '${probe:0:120}', revision ${rev:-?})"
	say "gatehouse: $GH_URL (key-auth, rate limit 1,000,000/s), publish $GH_PUBLISH (CPU $SERVER_CPU)"
}

# measure LABEL URL PUBLISH PID [rtbench flags...]: rtbench on the client CPU.
measure() {
	local label=$1 url=$2 publish=$3 pid=$4
	shift 4
	say "$label: $SUBSCRIBERS subscribers; $MESSAGES messages at $RATE/s, then $FLOOD as fast as possible"
	taskset -c "$CLIENT_CPU" "$RUN/bin/rtbench" -label "$label" -url "$url" -publish "$publish" \
		-n "$SUBSCRIBERS" -concurrency "$CONCURRENCY" -messages "$MESSAGES" -rate "$RATE" -flood "$FLOOD" \
		-idle "${IDLE}s" -hold "${HOLD}s" -drain "${DRAIN}s" -channel "$CHANNEL" -pid "$label=$pid" "$@" \
		-out "$RUN/$label.json" >/dev/null || die "rtbench failed for $label"
	alive "$pid" || die "$label exited during the run"
	RESULTS+=("$RUN/$label.json")
}

write_meta() {
	local rev pp_version
	rev="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then
		rev+=" with uncommitted changes in the tree"
	fi
	if [[ -n $GATEHOUSE_BIN ]]; then rev="the binary $GATEHOUSE_BIN"; fi
	pp_version=$(dpkg-query -W -f='${Version}' pushpin 2>/dev/null || "$PUSHPIN_BIN" --version 2>/dev/null | head -n 1 || echo unknown)
	{
		echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "nproc=$(nproc)"
		echo "cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
		echo "kernel=$(uname -r)"
		echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "go=$(go version | sed 's/^go version //')"
		echo "gatehouse_rev=$rev"
		echo "command=$COMMAND"
		echo "nofile=$NOFILE_NOTE"
		echo "pinning=the server under test (Pushpin: runner, condure, zurl, pushpin-proxy, pushpin-handler) and the GRIP origin on CPU $SERVER_CPU; rtbench (subscribers and publisher) on CPU $CLIENT_CPU; one system at a time"
		echo "pushpin=Debian $pp_version ($PUSHPIN_BIN with condure and zurl), message_rate=$MESSAGE_RATE (0: unlimited), message_hwm=$MESSAGE_HWM, log_level=$PUSHPIN_LOG_LEVEL, route \`* 127.0.0.1:ORIGIN\`; publish over HTTP (port 5561's API)"
		echo "gatehouse=one node, SQLite, API \`rt\` with \`realtime.enabled\`, policies key-auth (the key in \`X-API-Key\`) and the plan's rate limit (1,000,000 per second), per-app realtime metering on; log level warn; publish on the admin listener with the admin token"
	} >"$RUN/meta.env"
}

main() {
	parse_args "$@"
	check_prereqs
	raise_nofile
	RUN=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-realtime.XXXXXX")
	trap cleanup EXIT
	trap 'say "interrupted"; exit 130' INT TERM

	say "building gatehouse, rtbench, griporigin (run directory $RUN)"
	mkdir -p "$RUN/bin"
	GH_BIN=${GATEHOUSE_BIN:-$RUN/bin/gatehouse}
	if [[ -z $GATEHOUSE_BIN && $SYSTEMS == *gatehouse* ]]; then
		(cd "$ROOT" && go build -o "$RUN/bin/gatehouse" ./cmd/gatehouse) || die "go build ./cmd/gatehouse failed"
	fi
	local tool
	for tool in rtbench griporigin benchreport; do
		(cd "$ROOT" && go build -o "$RUN/bin/$tool" "./bench/cmd/$tool") || die "go build ./bench/cmd/$tool failed"
	done
	write_meta
	start_origin

	declare -ga RESULTS=()
	PP_CHILDREN=""
	if [[ $SYSTEMS == *pushpin* ]]; then
		start_pushpin
		measure Pushpin "$PP_URL" "$PP_PUBLISH" "$PP_PID" -header "X-API-Key: none"
		stop_all_but_origin
	fi
	if [[ $SYSTEMS == *gatehouse* ]]; then
		start_gatehouse
		local perf_pid=""
		if ((PERF)); then
			perf record -F 999 -g -p "$GH_PID" -o "$RUN/gatehouse/perf.data" >"$RUN/gatehouse/perf.log" 2>&1 &
			perf_pid=$!
			track "$perf_pid" perf
		fi
		measure Gatehouse "$GH_URL" "$GH_PUBLISH" "$GH_PID" -header "X-API-Key: $GH_KEY" \
			-publish-header "Authorization: Bearer $ADMIN_TOKEN"
		if [[ -n $perf_pid ]]; then
			kill -INT "$perf_pid" 2>/dev/null || true
			wait "$perf_pid" 2>/dev/null || true
			say "perf: $RUN/gatehouse/perf.data (perf report -i $RUN/gatehouse/perf.data --no-children)"
		fi
		if grep -qiE 'level=(error|warn)|panic' "$RUN/gatehouse/gatehouse.log"; then
			say "gatehouse logged warnings or errors:$(printf '\n'; grep -iE 'level=(error|warn)|panic' "$RUN/gatehouse/gatehouse.log" | head -n 5)"
		fi
	fi
	stop_all

	local docs=() status=0
	if [[ $WRITE_DOCS == yes ]]; then docs=(-docs "$DOCS"); fi
	echo
	"$RUN/bin/rtbench" report -meta "$RUN/meta.env" "${docs[@]}" "${RESULTS[@]}" || status=$?
	return "$status"
}

# stop_all_but_origin: stops the system measured (everything started after the origin),
# so that the next one has the CPU and memory to itself.
stop_all_but_origin() {
	local i pid keep=()
	for ((i = ${#STARTED[@]} - 1; i >= 1; i--)); do
		pid=${STARTED[i]}
		if [[ -z ${WORKER[$pid]:-} ]]; then stop_pid "$pid"; fi
	done
	for ((i = ${#STARTED[@]} - 1; i >= 1; i--)); do
		pid=${STARTED[i]}
		if [[ -n ${WORKER[$pid]:-} ]]; then stop_pid "$pid"; fi
	done
	keep=("${STARTED[0]}")
	STARTED=("${keep[@]}")
}

main "$@"
