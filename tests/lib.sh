# tests/lib.sh: what the shell tests share; sourced by them (. "$(dirname "$0")/lib.sh").
#
# check NAME STATUS [DETAIL]: counts (pass, fail) and prints one result. On a failure it also
# prints DETAIL and, where ERR_TAIL is set to a number of lines, the end of "$T/err" (the
# script's scratch folder T holds the last command's stderr there).
check() {
    if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "ok    $1"
    else
        fail=$((fail + 1)); echo "FAIL  $1 ${3:-}"
        if [ -n "${ERR_TAIL:-}" ] && [ -f "$T/err" ]; then
            sed 's/^/      | /' "$T/err" | tail -n "$ERR_TAIL"
        fi
    fi
}
