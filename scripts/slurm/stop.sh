#!/usr/bin/env bash
# scripts/slurm/stop.sh SANDBOX: stops the slurmd, slurmctld and munged that
# start.sh started in SANDBOX (by their pid files; nothing else is
# touched). Idempotent: missing or stale pid files are fine.
set -uo pipefail
if [ $# -ne 1 ]; then
	echo "usage: $0 SANDBOX" >&2
	exit 2
fi
[ -d "$1" ] || exit 0
sb=$(cd "$1" && pwd)
stop() {
	local pf=$sb/run/$1.pid pid
	[ -s "$pf" ] || return 0
	pid=$(cat "$pf")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$pf"
}
# slurmd first (it ends the jobs it runs), then the controller, then munge.
stop slurmd
stop slurmctld
stop munged
rm -f "$sb/run/munge.socket" "$sb/run/munge.socket.lock"
exit 0
