#!/usr/bin/env bash
# Side-by-side milter throughput on this machine, in one run: mailsift with
# the full chain, mailsift with network checks off, a bare go-milter server
# (the protocol ceiling), and OpenDMARC and OpenDKIM when installed (from
# Debian's packages; --install installs them). Each is driven by milterbench
# with the same message, unix sockets then TCP, concurrency 8. postgrey (a
# Postfix policy server, not a milter) is driven by bench/policybench with
# the same envelope, one request per message as smtpd sends at RCPT TO; the
# "replacement stack" row sums the CPU per message of OpenDKIM, OpenDMARC
# and postgrey, what an admin runs today for the job of mailsift's full
# chain. It prints one table: msg/s, ratio to the ceiling, CPU ms per
# message (from /proc), p50 and p99. Loopback only.
#
#   bench/compare.sh [--install] [-d 10s]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=10s
INSTALL=0
while [ $# -gt 0 ]; do
	case $1 in
	--install) INSTALL=1 ;;
	-d) DURATION=$2; shift ;;
	*) echo "usage: bench/compare.sh [--install] [-d DURATION]" >&2; exit 2 ;;
	esac
	shift
done
if [ $INSTALL = 1 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends opendmarc opendkim rspamd postgrey iproute2 util-linux >/dev/null
fi

T=$(mktemp -d)
chmod 755 "$T" # postgrey runs as its own user and writes its socket and db here
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	pkill -f "$T/dnsd" 2>/dev/null || true # the one inside rspamd's namespace too
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
go build -o "$T" ./cmd/mailsift ./cmd/milterbench ./bench/ceiling ./bench/dnsd ./bench/policybench

"$T/dnsd" -addr 127.0.0.1:0 -zones testdata/zones > "$T/dns.addr" & PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/dns.addr" ] && break; sleep 0.1; done
DNS=$(cat "$T/dns.addr")

# OpenDMARC, OpenDKIM and rspamd use the system resolver (port 53 only): they run in
# a private mount namespace whose /etc/resolv.conf names a second dnsd on
# 127.0.53.53:53, so that no lookup leaves the machine.
if command -v opendmarc >/dev/null || command -v opendkim >/dev/null || command -v rspamd >/dev/null; then
	"$T/dnsd" -addr 127.0.53.53:53 -zones testdata/zones > "$T/dns53.addr" & PIDS+=($!)
	for _ in $(seq 50); do [ -s "$T/dns53.addr" ] && break; sleep 0.1; done
	echo "nameserver 127.0.53.53" > "$T/resolv.conf"
fi
# NS COMMAND... execs COMMAND with the private resolv.conf; started with &,
# its $! is the daemon's own pid (unshare and sh exec).
NS=(unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"')

# cpu_ticks PID: CPU ticks of PID, or of every rspamd process for "rspamd".
cpu_ticks() {
	if [ "$1" = rspamd ]; then
		for q in $(pgrep -x rspamd); do awk '{print $14+$15}' "/proc/$q/stat"; done | awk '{s+=$1} END {print s+0}'
	else
		awk '{print $14+$15}' "/proc/$1/stat"
	fi
}
CLK=$(getconf CLK_TCK)

printf '%-28s %-5s %10s %8s %10s %9s %9s\n' target sock msg/s ratio "cpu ms/msg" "p50 ms" "p99 ms"
declare -A CEIL CPU

# bench NAME SOCK ADDR PID: run milterbench against a running milter.
bench() {
	local name=$1 sock=$2 addr=$3 pid=$4
	local c0 c1 out
	# Warm up (and pass the greylist triplets), then measure.
	"$T/milterbench" -addr "$addr" -c 8 -d 3s -warmup 0 -from alice@checks.test >/dev/null 2>&1 || true
	c0=$(cpu_ticks "$pid")
	out=$("$T/milterbench" -addr "$addr" -c 8 -d "$DURATION" -warmup 1s -from alice@checks.test -json)
	c1=$(cpu_ticks "$pid")
	row "$name" "$sock" "$out" $((c1 - c0)) "${CEIL[$sock]:-0}"
	if [ "$name" = ceiling ]; then
		CEIL[$sock]=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['messages_per_second'])" "$out")
	fi
}

# row NAME SOCK JSON TICKS CEIL: print a table row from a load tool's JSON
# and keep the CPU per message in CPU[NAME|SOCK]. CEIL "-" prints no ratio.
row() {
	python3 - "$1" "$2" "$3" "$(( $4 * 1000000 / CLK ))" "$5" "$T/cpu.last" <<'PY'
import json, sys
name, sock, out, cpu_us, ceil, keep = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
n = max(out["messages"], 1)
mps = out["messages_per_second"]
ratio = "-" if ceil == "-" else f"{mps/float(ceil):.2f}x" if float(ceil) else "1.00x"
cpu = cpu_us / 1000 / n
print(f"{name:<28} {sock:<5} {mps:10.1f} {ratio:>8} {cpu:10.3f} {out['latency_ms']['p50']:9.3f} {out['latency_ms']['p99']:9.3f}")
if out["errors"]:
    print(f"  errors: {out['errors']} {out.get('first_error','')}")
open(keep, "w").write(f"{cpu:.4f}")
PY
	CPU["$1|$2"]=$(cat "$T/cpu.last")
}

mailsift_conf() { # LISTEN FULL
	cat <<CONF
listen = "$1"
hostname = "mx.mailsift.test"
[log]
level = "warn"
[dns]
servers = ["$DNS"]
[trust]
networks = []
[admin]
listen = ""
[checks.recipient]
domains = ["example.test"]
CONF
	if [ "$2" = full ]; then
		printf '[greylist]\ndelay = "1s"\nsnapshot = ""\n'
	else
		printf '[checks.ptr]\nmode = "off"\n[checks.helo]\nunknown = false\n[checks.sender]\nunknown_domain = false\n'
		printf '[checks.spf]\nmode = "off"\n[checks.dkim]\nmode = "off"\n[checks.dmarc]\nmode = "off"\n[greylist]\nenabled = false\n'
	fi
}

for sock in unix tcp; do
	if [ $sock = unix ]; then addr_of() { echo "unix:$T/$1.sock"; }; else
		port=$((20000 + RANDOM % 20000)); addr_of() { port=$((port + 1)); echo "inet:127.0.0.1:$port"; }
	fi
	a=$(addr_of ceiling); "$T/ceiling" -addr "$a" & p=$!; PIDS+=($p); sleep 0.3
	bench ceiling $sock "$a" $p; kill $p; wait $p 2>/dev/null || true

	for variant in full off; do
		a=$(addr_of "ms-$variant"); mailsift_conf "$a" $variant > "$T/ms-$variant.toml"
		"$T/mailsift" run -c "$T/ms-$variant.toml" 2>"$T/ms-$variant.log" & p=$!; PIDS+=($p); sleep 0.5
		name="mailsift (full chain)"; [ $variant = off ] && name="mailsift (network checks off)"
		bench "$name" $sock "$a" $p; kill $p; wait $p 2>/dev/null || true
	done

	# libmilter daemons: NAME CONFIG-FLAG CONFIG-LINES (after Socket)
	libmilter() {
		local name=$1 flag=$2 lines=$3 a sa
		command -v "$name" >/dev/null || return 0
		a=$(addr_of "$name")
		sa=${a#unix:}; [ $sock = tcp ] && sa="inet:${a##*:}@127.0.0.1" || sa="local:$sa"
		printf 'Socket %s\n%sPidFile %s/%s.pid\n' "$sa" "$lines" "$T" "$name" > "$T/$name.conf"
		"${NS[@]}" "$T/resolv.conf" "$name" "$flag" "$T/$name.conf" -f & p=$!; PIDS+=($p); sleep 0.5
		bench "$name" $sock "$a" $p; kill $p; wait $p 2>/dev/null || true
	}
	libmilter opendmarc -c $'Background false\nAuthservID mx.bench.test\n'
	libmilter opendkim -x $'Background no\nMode v\n'

	# postgrey: the same envelope, one policy request per message (smtpd
	# asks at each RCPT TO, on a connection it keeps open). A warm-up
	# longer than its delay passes the triplet, as for mailsift's greylist.
	if command -v postgrey >/dev/null; then
		a=$(addr_of postgrey)
		mkdir -p "$T/postgrey.db"; chown postgrey:postgrey "$T/postgrey.db" 2>/dev/null || true
		if [ $sock = unix ]; then pa="--unix=${a#unix:}"; else pa="--inet=127.0.0.1:${a##*:}"; fi
		postgrey "$pa" --dbdir="$T/postgrey.db" --delay=1 >"$T/postgrey-$sock.log" 2>&1 & p=$!; PIDS+=($p)
		for _ in $(seq 50); do "$T/policybench" -addr "$a" -c 1 -count 1 -warmup 0 -d 1s >/dev/null 2>&1 && break; sleep 0.1; done
		"$T/policybench" -addr "$a" -c 8 -d 3s -warmup 0 >/dev/null 2>&1 || true
		c0=$(cpu_ticks $p)
		out=$("$T/policybench" -addr "$a" -c 8 -d "$DURATION" -warmup 1s -json)
		c1=$(cpu_ticks $p)
		row postgrey $sock "$out" $((c1 - c0)) -
		kill $p; wait $p 2>/dev/null || true
	fi
	# The replacement stack: each message passes all three.
	k="|$sock"
	if [ -n "${CPU[opendkim$k]:-}" ] && [ -n "${CPU[opendmarc$k]:-}" ] && [ -n "${CPU[postgrey$k]:-}" ]; then
		python3 - "$sock" "${CPU[opendkim$k]}" "${CPU[opendmarc$k]}" "${CPU[postgrey$k]}" "${CPU[mailsift (full chain)$k]}" <<'PY'
import sys
sock, dkim, dmarc, pg, ms = sys.argv[1], *map(float, sys.argv[2:])
s = dkim + dmarc + pg
print(f"{'replacement stack (sum)':<28} {sock:<5} {'-':>10} {'-':>8} {s:10.3f} {'-':>9} {'-':>9}")
print(f"  = OpenDKIM {dkim:.3f} + OpenDMARC {dmarc:.3f} + postgrey {pg:.3f} ms; mailsift's full chain uses {ms/s:.2f}x of it")
PY
	fi
done

# rspamd's milter proxy, unix socket only: it runs in a network namespace
# of its own with only loopback (and a dnsd there), so that none of its
# map, RBL or fuzzy lookups can leave the machine.
if command -v rspamd >/dev/null; then
	R=$T/rspamd; mkdir -p "$R/local/local.d" "$R/db" "$R/run" "$R/log"
	printf 'bind_socket = "%s/rspamd.sock mode=0666";\nmilter = yes;\ncount = 1;\nupstream "local" {\n  default = yes;\n  self_scan = yes;\n}\n' "$R" > "$R/local/local.d/worker-proxy.inc"
	printf 'dns {\n  nameserver = ["127.0.53.53:53"];\n}\n' > "$R/local/local.d/options.inc"
	printf 'enabled = false;\n' > "$R/local/local.d/fuzzy_check.conf"
	unshare --net --mount --propagation private sh -c 'ip link set lo up; mount --bind "$0/resolv.conf" /etc/resolv.conf
		"$0/dnsd" -addr 127.0.53.53:53 -zones testdata/zones >/dev/null &
		exec rspamd -f -i -u root -g root --var=LOCAL_CONFDIR="$0/rspamd/local" --var=DBDIR="$0/rspamd/db" --var=RUNDIR="$0/rspamd/run" --var=LOGDIR="$0/rspamd/log"' "$T" \
		>"$R/out.log" 2>&1 & p=$!; PIDS+=($p)
	for _ in $(seq 120); do [ -S "$R/rspamd.sock" ] && break; sleep 0.5; done
	sleep 10 # rspamd compiles its regex databases after start
	bench rspamd unix "unix:$R/rspamd.sock" rspamd
	kill $p; wait $p 2>/dev/null || true
fi
