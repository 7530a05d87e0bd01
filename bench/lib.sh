# Shared by bench/run.sh and bench/redis-limit.sh (sourced, not run): messages, and the
# processes a bench starts. Every process is recorded with its command name; cleanup stops
# those PIDs, and only while they still run that command (a reused PID is never signalled).
# The sourcing script sets RUN (its run directory) and KEEP.

die() {
	echo "bench: error: $*" >&2
	exit 1
}
say() { echo "bench: $*" >&2; }

declare -a STARTED=()
declare -A COMM=() WORKER=()
RUN=""

track() { # PID COMM [worker]: a worker is a child of a tracked process that stops it
	STARTED+=("$1")
	COMM[$1]=$2
	if [[ ${3:-} == worker ]]; then WORKER[$1]=1; fi
}

alive() { # PID: running (not gone, not a zombie) and still the command we started
	local pid=$1 stat rest comm
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[[ $comm == "${COMM[$pid]:-}" ]] || return 1
	rest=${stat##*) }
	[[ ${rest%% *} != Z ]]
}

stop_pid() { # PID: SIGTERM, up to 5 s to exit, then SIGKILL
	local pid=$1 i
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			say "process $pid (${COMM[$pid]}) ignored SIGTERM; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true # reap our children; an nginx worker is its master's to reap
}

stop_all() {
	local i pid
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
		pid=${STARTED[i]}
		if [[ -z ${WORKER[$pid]:-} ]]; then stop_pid "$pid"; fi
	done
	for pid in "${!WORKER[@]}"; do
		stop_pid "$pid"
	done
}

cleanup() {
	local status=$?
	trap - EXIT
	trap '' INT TERM # a second Ctrl-C must not leave servers running
	stop_all
	if [[ -n $RUN && -d $RUN ]]; then
		if ((KEEP || status != 0)); then
			say "run directory kept: $RUN"
		else
			rm -rf "$RUN"
		fi
	fi
	exit "$status"
}

addr_of() { # NAME FILE: the host:port of one listener in the --addr-file JSON
	local addr
	addr=$(grep -oE "\"$1\" *: *\"[^\"]+\"" "$2" | sed -E 's/.*"([^"]+)"$/\1/')
	[[ -n $addr ]] || die "no $1 address in $2"
	echo "$addr"
}

# wait_file FILE PID LOG: until FILE is written, while PID runs; at most 15 s.
wait_file() {
	local file=$1 pid=$2 log=$3 i
	for ((i = 0; i < 150; i++)); do
		[[ -s $file ]] && return 0
		alive "$pid" || die "process $pid exited while starting:$(printf '\n'; tail -n 20 "$log")"
		sleep 0.1
	done
	die "process $pid did not write $file within 15 s; see $log"
}
