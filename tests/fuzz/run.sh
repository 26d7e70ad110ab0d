#!/bin/sh
# Builds the fuzz targets and runs each in turn for SECONDS (default 60), at the lowest CPU
# priority, one at a time. Each run starts from the kept corpus (tests/fuzz/corpus/<target>/) and
# works in build-fuzz/work/<target>/; a crash is saved under build-fuzz/artifacts/ and fails the
# run. With --merge, the kept corpus is replaced by a minimal set of inputs that covers every edge
# the old corpus and the run reached (hand-written seed* and finding* files are always kept).
# libFuzzer's final stats for each target are in build-fuzz/<target>.log. See doc/fuzzing.md.
# Usage: tests/fuzz/run.sh [--merge] [SECONDS] [TARGET...]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${BUILD_FUZZ:-$root/build-fuzz}
merge=no
if [ "${1:-}" = "--merge" ]; then
	merge=yes
	shift
fi
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-request_parser conf message_id message_http websocket grip_instruction grip_publish redis_frame}

"$here/build.sh"
mkdir -p "$out/artifacts"
status=0
for t in $targets; do
	work="$out/work/$t"
	kept="$here/corpus/$t"
	mkdir -p "$work" "$kept"
	echo "fuzz_$t: ${seconds}s"
	# -timeout: an input that takes a second is a hang for parsers this size.
	if ! nice -n 19 "$out/fuzz_$t" -max_total_time="$seconds" -timeout=2 -rss_limit_mb=2048 \
		-print_final_stats=1 -dict="$here/$t.dict" -artifact_prefix="$out/artifacts/${t}-" \
		"$work" "$kept" >"$out/$t.log" 2>&1; then
		echo "fuzz_$t: FAILED, see $out/$t.log and $out/artifacts/" >&2
		status=1
	fi
	grep -E '^#[0-9]+ +DONE|^stat::' "$out/$t.log" || true
	if [ "$merge" = yes ]; then
		# Edges only (no hit counts), so the corpus stays at a few hundred files.
		fresh="$out/merge/$t"
		rm -rf "$fresh"
		mkdir -p "$fresh"
		nice -n 19 "$out/fuzz_$t" -set_cover_merge=1 -use_counters=0 -timeout=2 \
			"$fresh" "$kept" "$work" >"$out/$t.merge.log" 2>&1
		find "$kept" -type f ! -name 'seed*' ! -name 'finding*' -delete
		cp "$fresh"/* "$kept"/
		echo "fuzz_$t: kept corpus now $(ls "$kept" | wc -l) files"
	fi
done
exit $status
