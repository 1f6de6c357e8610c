#!/usr/bin/env bash
# End to end through a real Postfix: smtp-source -> Postfix (smtpd_milters)
# -> smtp-sink, all on loopback, for: no milter; mailsift's full chain;
# OpenDKIM + OpenDMARC chained; rspamd's milter proxy. For each it prints
# messages per second (from the first SMTP connection until Postfix has
# handed the last message to smtp-sink) and CPU per message of Postfix's
# processes (master, smtpd, cleanup, qmgr, smtp, ...) and of the milters'
# (every process of theirs), each read from a cgroup of its own, so that
# processes that exit during the run are counted. The load tools
# (smtp-source, smtp-sink) have a cgroup of their own, not counted.
# The median of the repeats is shown, with the spread of msg/s.
#
#   bench/postfix.sh [--install] [-n MESSAGES] [-r REPEATS] [-s SESSIONS]
#
# Defaults: 2000 messages a repeat, 3 repeats, 8 sessions. Needs root
# (a private Postfix instance, cgroups, namespaces). Bounded: each repeat
# gives up after 300 s. The Postfix instance is built as e2e/postfix_test.go
# builds its own; its only delivery is smtp-sink on
# 127.0.0.1, everything else bounces locally.
set -euo pipefail
cd "$(dirname "$0")/.."
N=2000
REPEATS=3
SESSIONS=8
INSTALL=0
ONLY=""
while [ $# -gt 0 ]; do
	case $1 in
	--install) INSTALL=1 ;;
	-n) N=$2; shift ;;
	-r) REPEATS=$2; shift ;;
	-s) SESSIONS=$2; shift ;;
	--only) ONLY=$2; shift ;; # one config, for development: none, mailsift, opendkim+opendmarc, rspamd
	*) echo "usage: bench/postfix.sh [--install] [-n MESSAGES] [-r REPEATS] [-s SESSIONS]" >&2; exit 2 ;;
	esac
	shift
done
if [ "$(id -u)" != 0 ]; then echo "bench/postfix.sh: needs root" >&2; exit 1; fi
if [ $INSTALL = 1 ]; then
	export DEBIAN_FRONTEND=noninteractive
	printf 'postfix postfix/main_mailer_type select No configuration\npostfix postfix/mailname string localhost\n' | debconf-set-selections
	apt-get install -y -q --no-install-recommends postfix opendmarc opendkim rspamd iproute2 util-linux >/dev/null
fi
SOURCE=$(command -v smtp-source || echo /usr/lib/postfix/smtp-source)
SINK=$(command -v smtp-sink || echo /usr/lib/postfix/smtp-sink)

T=$(mktemp -d /tmp/pfbench.XXXXXX)
chmod 755 "$T" # Postfix's daemons (user postfix) traverse it and reach the milter sockets
PIDS=()
# cgroups: one per role, so CPU of processes that come and go is counted.
if [ -w /sys/fs/cgroup/cpuacct ]; then
	CG=/sys/fs/cgroup/cpuacct/pfbench-$$
	cg_usec() { echo $(($(cat "$CG/$1/cpuacct.usage") / 1000)); }
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	CG=/sys/fs/cgroup/pfbench-$$
	cg_usec() { awk '$1 == "usage_usec" {print $2}' "$CG/$1/cpu.stat"; }
else
	echo "bench/postfix.sh: no writable cgroup (v1 cpuacct or v2) to count CPU" >&2; exit 1
fi
mkdir -p "$CG"/{postfix,milter,load}
# incg ROLE COMMAND...: runs COMMAND in ROLE's cgroup (children inherit it).
incg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/$1" "${@:2}"; }

PF=$T/pf
cleanup() {
	postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	# rspamd's workers and anything else left in our cgroups, by pid.
	for r in milter load postfix; do
		for p in $(cat "$CG/$r/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	done
	for _ in $(seq 50); do
		rmdir "$CG"/{postfix,milter,load} 2>/dev/null || true
		rmdir "$CG" 2>/dev/null && break
		sleep 0.1
	done
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
go build -o "$T" ./cmd/mailsift ./bench/dnsd

# DNS: the test zones plus bench.test, the sending site: the client
# 127.0.0.1 is client.bench.test (forward-confirmed), with SPF and DMARC
# that pass, so that every check runs to the end and the mail is accepted.
mkdir "$T/zones"
cp testdata/zones/*.zone "$T/zones/"
echo '1.0.0      IN PTR client.bench.test.' >> "$T/zones/127.in-addr.arpa.zone"
cat > "$T/zones/bench.test.zone" <<'EOF'
$ORIGIN bench.test.
$TTL 300
@       IN SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 60
@       IN NS  ns
ns      IN A   127.0.0.53
@       IN MX  10 client
@       IN TXT "v=spf1 ip4:127.0.0.1 -all"
client  IN A   127.0.0.1
_dmarc  IN TXT "v=DMARC1; p=reject"
EOF
"$T/dnsd" -addr 127.0.0.1:0 -zones "$T/zones" > "$T/dns.addr" & PIDS+=($!)
DNS53=127.0.$((RANDOM % 200 + 20)).53 # the libmilter daemons and rspamd ask port 53
"$T/dnsd" -addr "$DNS53:53" -zones "$T/zones" > "$T/dns53.addr" & PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/dns.addr" ] && [ -s "$T/dns53.addr" ] && break; sleep 0.1; done
DNS=$(cat "$T/dns.addr")
echo "nameserver $DNS53" > "$T/resolv.conf"
NS=(unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$T/resolv.conf")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SMTP_PORT=$(free_port)
SINK_PORT=$(free_port)
# SINK_DUMP=1 keeps the delivered messages in $T/sink/dump (with KEEP=1), to see the milters' headers.
mkdir -m 1777 "$T/sink"
incg load "$SINK" -u nobody ${SINK_DUMP:+-D "$T/sink/dump"} "127.0.0.1:$SINK_PORT" 256 & PIDS+=($!)

# The message: 4 KB of body, a From header for DMARC.
{
	printf 'From: Alice <alice@bench.test>\r\nTo: <bob@example.test>\r\nSubject: postfix bench\r\n'
	printf 'Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <bench@bench.test>\r\nMIME-Version: 1.0\r\n'
	printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\n'
	for _ in $(seq 64); do printf '%062d\r\n' 0 | tr 0 x; done
} > "$T/message.eml"

# pf_start MILTERS: a fresh private Postfix instance with smtpd_milters.
pf_start() {
	postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
	rm -rf "$PF"
	mkdir -p "$PF"/{etc,queue,data,log}
	chown postfix "$PF/data"
	cat > "$PF/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $PF/log/maillog
maillog_file_prefixes = $PF
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mx.pfbench.test
mydomain = pfbench.test
myorigin = \$myhostname
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = example.test
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# the one way out: smtp-sink on loopback; anything else bounces locally
transport_maps = inline:{example.test=smtp:[127.0.0.1]:$SINK_PORT}
default_transport = error:5.7.0 outbound mail disabled in bench instance
relay_transport = error:5.7.0 outbound mail disabled in bench instance
smtp_dns_support_level = disabled
smtpd_milters = $1
milter_protocol = 6
milter_default_action = tempfail
milter_connect_macros = j {daemon_name} {daemon_addr} v _ {client_addr} {client_name} {client_ptr} {client_port} {client_connections}
milter_helo_macros = {tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer} {client_addr}
milter_mail_macros = i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer} {client_addr} {client_name}
milter_rcpt_macros = i {rcpt_addr} {rcpt_host} {rcpt_mailer}
milter_data_macros = i
milter_end_of_header_macros = i
milter_end_of_data_macros = i {client_addr} {client_name} {auth_authen}
biff = no
smtpd_banner = \$myhostname ESMTP pfbench
smtpd_tls_security_level = none
smtp_tls_security_level = none
EOF
	cat > "$PF/etc/master.cf" <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
EOF
	touch -d '-1 min' "$PF/etc/main.cf" "$PF/etc/master.cf" # else Postfix waits ~2 s
	incg postfix postfix -c "$PF/etc" start >/dev/null 2>&1
}

queue_empty() { [ -z "$(find "$PF/queue/incoming" "$PF/queue/active" "$PF/queue/deferred" "$PF/queue/maildrop" -type f 2>/dev/null | head -1)" ]; }
wait_queue() { # up to $1 seconds
	local end=$((SECONDS + $1))
	until queue_empty; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.05
	done
}

# warm: until one message passes (the greylist's first attempt is
# deferred, and the DNS caches fill), then a few hundred more.
warm() {
	local ok=0
	for _ in $(seq 30); do
		if timeout 20 "$SOURCE" -s 1 -m 1 -M client.bench.test -f alice@bench.test -t bob@example.test -F "$T/message.eml" "127.0.0.1:$SMTP_PORT" >/dev/null 2>&1; then
			ok=1; break
		fi
		sleep 0.5
	done
	[ $ok = 1 ] || { echo "  no message got through; maillog:"; tail -5 "$PF/log/maillog"; return 1; }
	timeout 120 "$SOURCE" -A -s "$SESSIONS" -m 300 -M client.bench.test -f alice@bench.test -t bob@example.test -F "$T/message.eml" "127.0.0.1:$SMTP_PORT" >/dev/null 2>&1 || true
	wait_queue 60
}

declare -A RES
# measure NAME: REPEATS runs of N messages against the running instance.
measure() {
	local name=$1 i p0 m0 t0 t1 p1 m1
	warm || { RES[$name]="failed"; return 0; }
	local runs=()
	for i in $(seq "$REPEATS"); do
		sleep 1
		p0=$(cg_usec postfix); m0=$(cg_usec milter); t0=$(date +%s.%N)
		if ! timeout 300 "$SOURCE" -s "$SESSIONS" -m "$N" -M client.bench.test -f alice@bench.test -t bob@example.test -F "$T/message.eml" "127.0.0.1:$SMTP_PORT" >"$T/source.out" 2>&1; then
			echo "  $name: smtp-source failed: $(tail -2 "$T/source.out")"; RES[$name]="failed"; return 0
		fi
		wait_queue 300 || { echo "  $name: queue not empty after 300 s"; RES[$name]="failed"; return 0; }
		t1=$(date +%s.%N); p1=$(cg_usec postfix); m1=$(cg_usec milter)
		runs+=("$(python3 -c 'import sys; n,t0,t1,p0,p1,m0,m1=map(float,sys.argv[1:]); print(f"{n/(t1-t0):.1f} {(p1-p0)/1000/n:.4f} {(m1-m0)/1000/n:.4f}")' "$N" "$t0" "$t1" "$p0" "$p1" "$m0" "$m1")")
		echo "  $name run $i: msg/s, postfix ms/msg, milter ms/msg = ${runs[-1]}" >&2
	done
	RES[$name]="${runs[*]}"
}

CONFIGS=(none mailsift opendkim+opendmarc rspamd)
[ -n "$ONLY" ] && CONFIGS=("$ONLY")
for c in "${CONFIGS[@]}"; do
	case $c in
	none)
		pf_start ""
		measure "$c"
		;;
	mailsift)
		cat > "$T/mailsift.toml" <<EOF
listen = "unix:$T/mailsift.sock"
hostname = "mx.pfbench.test"
[log]
level = "${MAILSIFT_LOG:-warn}"
[dns]
servers = ["$DNS"]
[trust]
networks = []
[admin]
listen = ""
[checks.recipient]
domains = ["example.test"]
[greylist]
delay = "1s"
snapshot = ""
EOF
		incg milter "$T/mailsift" run -c "$T/mailsift.toml" 2>"$T/mailsift.log" & p=$!; PIDS+=($p)
		for _ in $(seq 50); do [ -S "$T/mailsift.sock" ] && break; sleep 0.1; done
		chgrp postfix "$T/mailsift.sock" # mode 0660: the MTA's group connects
		pf_start "unix:$T/mailsift.sock"
		measure "$c"
		kill $p; wait $p 2>/dev/null || true
		;;
	opendkim+opendmarc)
		if ! command -v opendkim >/dev/null || ! command -v opendmarc >/dev/null; then continue; fi
		# Neither may skip 127.0.0.1 as "internal" (their default), or
		# they would not verify at all.
		echo 192.0.2.254 > "$T/internal.hosts"
		printf 'Socket local:%s/opendkim.sock\nUMask 000\nBackground no\nMode v\nInternalHosts %s/internal.hosts\nPidFile %s/opendkim.pid\n' "$T" "$T" "$T" > "$T/opendkim.conf"
		printf 'Socket local:%s/opendmarc.sock\nUMask 000\nBackground false\nAuthservID mx.pfbench.test\nSPFSelfValidate true\nIgnoreHosts %s/internal.hosts\nPidFile %s/opendmarc.pid\n' "$T" "$T" "$T" > "$T/opendmarc.conf"
		incg milter "${NS[@]}" opendkim -x "$T/opendkim.conf" -f & p1=$!; PIDS+=($p1)
		incg milter "${NS[@]}" opendmarc -c "$T/opendmarc.conf" -f & p2=$!; PIDS+=($p2)
		for _ in $(seq 50); do [ -S "$T/opendkim.sock" ] && [ -S "$T/opendmarc.sock" ] && break; sleep 0.1; done
		pf_start "unix:$T/opendkim.sock, unix:$T/opendmarc.sock"
		measure "$c"
		kill $p1 $p2; wait $p1 $p2 2>/dev/null || true
		;;
	rspamd)
		command -v rspamd >/dev/null || continue
		# In a network namespace of its own with only loopback (and a dnsd
		# there), as in compare.sh: none of its lookups can leave.
		R=$T/rspamd; mkdir -p "$R/local/local.d" "$R/db" "$R/run" "$R/log"
		printf 'bind_socket = "%s/rspamd.sock mode=0666";\nmilter = yes;\ncount = 1;\nupstream "local" {\n  default = yes;\n  self_scan = yes;\n}\n' "$R" > "$R/local/local.d/worker-proxy.inc"
		printf 'dns {\n  nameserver = ["%s:53"];\n}\nlocal_addrs = [];\n' "$DNS53" > "$R/local/local.d/options.inc"
		printf 'enabled = false;\n' > "$R/local/local.d/fuzzy_check.conf"
		incg milter unshare --net --mount --propagation private sh -c 'ip link set lo up; mount --bind "$0/resolv.conf" /etc/resolv.conf
			"$0/dnsd" -addr "$1:53" -zones "$0/zones" >/dev/null &
			exec rspamd -f -i -u root -g root --var=LOCAL_CONFDIR="$0/rspamd/local" --var=DBDIR="$0/rspamd/db" --var=RUNDIR="$0/rspamd/run" --var=LOGDIR="$0/rspamd/log"' "$T" "$DNS53" \
			>"$R/out.log" 2>&1 & p=$!; PIDS+=($p)
		for _ in $(seq 120); do [ -S "$R/rspamd.sock" ] && break; sleep 0.5; done
		sleep 10 # rspamd compiles its regex databases after start
		pf_start "unix:$R/rspamd.sock"
		measure "$c"
		kill $p; wait $p 2>/dev/null || true
		;;
	esac
done
postfix -c "$PF/etc" stop >/dev/null 2>&1 || true

printf '\n%d messages x %d repeats, %d sessions, 4 KB message; medians (msg/s min-max)\n' "$N" "$REPEATS" "$SESSIONS"
python3 - "${CONFIGS[@]}" <<PY
import statistics, sys
res = {$(for c in "${CONFIGS[@]}"; do printf '"%s": "%s", ' "$c" "${RES[$c]:-}"; done)}
print(f"{'config':<22} {'msg/s':>8} {'(min-max)':>15} {'vs none':>8} {'postfix ms':>11} {'milter ms':>10} {'total ms':>9} {'vs none':>8}")
base = None
for name in sys.argv[1:]:
    v = res.get(name, "")
    if not v or v == "failed":
        print(f"{name:<22} {'failed':>8}")
        continue
    xs = list(map(float, v.split()))
    runs = [xs[i:i+3] for i in range(0, len(xs), 3)]
    mps = statistics.median(r[0] for r in runs)
    pf = statistics.median(r[1] for r in runs)
    ml = statistics.median(r[2] for r in runs)
    tot = statistics.median(r[1] + r[2] for r in runs)
    if name == "none":
        base = (mps, tot)
    spread = f"({min(r[0] for r in runs):.0f}-{max(r[0] for r in runs):.0f})"
    r1 = f"{mps/base[0]:.2f}x" if base else "-"
    r2 = f"{tot/base[1]:.2f}x" if base else "-"
    print(f"{name:<22} {mps:8.1f} {spread:>15} {r1:>8} {pf:11.3f} {ml:10.3f} {tot:9.3f} {r2:>8}")
PY
