#!/usr/bin/env bash
# bench/instructions.sh: instructions per op of benchmarks of ./bench/, counted by valgrind's
# callgrind, for builds of several commits. On a machine shared with other work the timings
# move by ±20-40% from run to run; instruction counts move by a few per op (map hash seeds,
# the GC), so they show a change of 1% that benchstat cannot.
#
#   bench/instructions.sh [-b REGEXP] [-n N1,N2] [REV ...]      (run from the module root)
#
# REV is a commit (built from a temporary worktree) or "." for the working tree (the default).
# Each benchmark runs twice, -benchtime N1x and N2x on one CPU; instructions/op is the
# difference of the two totals over N2-N1, which leaves out the setup. Counts the CPU's
# instructions, not its time: cache misses and contention between cores are not in it (use
# PreProcessParallel and a profile of the load server for those).
set -euo pipefail
B='DispatchNoScript$|PreProcessTrivial$|PostProcessHeader$|TrieLookup/1000$'
N='5000,25000'
while getopts b:n: o; do
	case $o in b) B=$OPTARG ;; n) N=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- .
command -v valgrind >/dev/null || { echo "instructions: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
N1=${N%,*} N2=${N#*,}
TMP=$(mktemp -d)
trap 'git worktree remove --force "$TMP/wt" 2>/dev/null || true; rm -rf "$TMP"' EXIT
names=()
for rev in "$@"; do
	name=$(echo "$rev" | tr -c 'A-Za-z0-9.\n' _)
	if [ "$rev" = . ]; then
		go test -c -o "$TMP/$name.test" ./bench/
	else
		git worktree add -q --detach "$TMP/wt" "$rev"
		(cd "$TMP/wt" && go test -c -o "$TMP/$name.test" ./bench/)
		git worktree remove --force "$TMP/wt"
	fi
	names+=("$name")
done
total() { # binary, benchmark, n: the program's instructions
	GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
		"$1" -test.run '^$' -test.bench "$2" -test.benchtime "${3}x" -test.cpu 1 2>&1 |
		awk '/Collected/ {print $4}'
}
printf '%-24s' benchmark
for n in "${names[@]}"; do printf '%14s' "$n"; done
echo
for sel in $(echo "$B" | tr '|' '\n'); do
	printf '%-24s' "${sel%\$}"
	for n in "${names[@]}"; do
		a=$(total "$TMP/$n.test" "$sel" "$N1")
		c=$(total "$TMP/$n.test" "$sel" "$N2")
		printf '%14s' "$(((c - a) / (N2 - N1)))"
	done
	echo
done
