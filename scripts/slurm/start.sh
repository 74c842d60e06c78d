#!/usr/bin/env bash
# scripts/slurm/start.sh SANDBOX: starts a one-node Slurm cluster on this
# machine (Debian's slurm-wlm and munge) with every file it writes inside
# SANDBOX: munge key, socket, pid and log; slurm.conf; slurmctld's state,
# slurmd's spool, their pid files and logs. Run as root (the daemons and the
# jobs run as root). Idempotent: when the daemons of SANDBOX are running and
# the node answers, it only prints the environment. On success it prints
#   export SLURM_CONF=SANDBOX/slurm.conf
# which the client commands (sbatch, squeue, sinfo, scontrol) need; eval it.
# On failure it prints the daemons' logs and exits 1. Stop with stop.sh.
#
# Ports: SLURM_TEST_CTLD_PORT (default 6817) and SLURM_TEST_SLURMD_PORT
# (default 6818), for a second cluster on the same machine.
set -euo pipefail
if [ $# -ne 1 ]; then
	echo "usage: $0 SANDBOX" >&2
	exit 2
fi
mkdir -p "$1"
sb=$(cd "$1" && pwd)
conf=$sb/slurm.conf
export SLURM_CONF=$conf
for c in munged slurmctld slurmd sinfo scontrol; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "$0: $c not found: apt-get install -y slurm-wlm munge" >&2
		exit 1
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "$0: run as root (slurmd starts jobs as their users; SlurmUser is root here)" >&2
	exit 1
fi

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
logs() {
	for f in "$sb"/log/munged.log "$sb"/log/slurmctld.log "$sb"/log/slurmd.log "$sb"/log/*.stderr; do
		[ -f "$f" ] || continue
		echo "==== $f (last 60 lines)" >&2
		tail -n 60 "$f" >&2
	done
}
fail() {
	echo "$0: $*" >&2
	logs
	exit 1
}
node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -n 1; }

if alive "$sb/run/munged.pid" && alive "$sb/run/slurmctld.pid" && alive "$sb/run/slurmd.pid" &&
	[ "$(node_state)" = idle ]; then
	echo "export SLURM_CONF=$conf"
	exit 0
fi
# A half-started cluster from before: stop it and start afresh.
"$(dirname "$0")/stop.sh" "$sb" >/dev/null 2>&1 || true

mkdir -p "$sb"/munge "$sb"/run "$sb"/log "$sb"/state "$sb"/spool
chmod 0700 "$sb"/munge
# munged checks the permissions of the directories above its socket and key.
chmod 0755 "$sb" "$sb"/run "$sb"/log

# munge: own key, socket, pid, seed and log.
key=$sb/munge/munge.key
if [ ! -s "$key" ]; then
	dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
fi
chmod 0400 "$key"
sock=$sb/run/munge.socket
munged --force --key-file="$key" --socket="$sock" --pid-file="$sb/run/munged.pid" \
	--seed-file="$sb/munge/munged.seed" --log-file="$sb/log/munged.log" 2>"$sb/log/munged.stderr" ||
	fail "munged did not start"
for _ in $(seq 50); do
	[ -S "$sock" ] && break
	sleep 0.1
done
[ -S "$sock" ] || fail "munged: no socket $sock"
if command -v munge >/dev/null 2>&1 && command -v unmunge >/dev/null 2>&1; then
	munge -S "$sock" -n | unmunge -S "$sock" >/dev/null || fail "munge: a credential does not decode"
fi

# slurm.conf
node=$(hostname -s)
mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
cpus=${SLURM_TEST_CPUS:-2}
cat >"$conf" <<CONF
# Written by scripts/slurm/start.sh: one node, everything under $sb.
ClusterName=gradcouple-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=${SLURM_TEST_CTLD_PORT:-6817}
SlurmdPort=${SLURM_TEST_SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
StateSaveLocation=$sb/state
SlurmdSpoolDir=$sb/spool
SlurmctldPidFile=$sb/run/slurmctld.pid
SlurmdPidFile=$sb/run/slurmd.pid
SlurmctldLogFile=$sb/log/slurmctld.log
SlurmdLogFile=$sb/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF

# -D: foreground (in the background of this shell, detached with setsid);
# -i / -c: ignore or clear state from an earlier start.
setsid slurmctld -D -i -f "$conf" >"$sb/log/slurmctld.stderr" 2>&1 </dev/null &
echo $! >"$sb/run/slurmctld.pid"
for _ in $(seq 100); do
	scontrol ping 2>/dev/null | grep -q 'is UP' && break
	alive "$sb/run/slurmctld.pid" || fail "slurmctld exited"
	sleep 0.2
done
scontrol ping 2>/dev/null | grep -q 'is UP' || fail "slurmctld does not answer"
setsid slurmd -D -f "$conf" -N "$node" >"$sb/log/slurmd.stderr" 2>&1 </dev/null &
echo $! >"$sb/run/slurmd.pid"
state=
for _ in $(seq 150); do
	state=$(node_state)
	[ "$state" = idle ] && break
	alive "$sb/run/slurmd.pid" || fail "slurmd exited"
	sleep 0.2
done
[ "$state" = idle ] || fail "node $node is ${state:-unknown}, not idle"
echo "export SLURM_CONF=$conf"
