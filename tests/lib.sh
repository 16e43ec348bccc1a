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

# jchecks NAME EXPR [NAME EXPR ...]: each EXPR is a python3 expression over d, the JSON document
# $T/j.json. One python3 run checks them all (its start-up is the slow part); a document that
# does not parse fails every check. Counts into pass and fail as check does. JPRE, if set: python
# statements run first, once (helpers the EXPRs share).
JCHECK='
import json, os, sys
try:
    d, why = json.load(open(sys.argv[1])), None
except Exception as e:
    d, why = None, "JSON: %s" % e
a = sys.argv[2:]
if d is not None:
    try:
        exec(os.environ.get("JPRE", ""))
    except Exception as e:
        d, why = None, "JPRE: %r" % e
for name, expr in zip(a[0::2], a[1::2]):
    ok, msg = False, why
    if d is not None:
        try:
            ok, msg = bool(eval(expr)), expr
        except Exception as e:
            msg = "%s: %r" % (expr, e)
    print(("ok    %s" % name) if ok else ("FAIL  %s\n      | %s" % (name, msg)))
'
jchecks() {
    python3 -S -c "$JCHECK" "$T/j.json" "$@" >"$T/jout" 2>&1
    cat "$T/jout"
    pass=$((pass + $(grep -c '^ok ' "$T/jout")))
    fail=$((fail + $(grep -c '^FAIL ' "$T/jout")))
}

# bits JSON: the results that must be equal to the bit, one per line: the demo's checksums and
# sums, or the training's losses (hex) and parameter hashes (test_mpi.sh, test_hosts.sh).
bits() {
    python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
if "steps" in d and "hashes" in d:
    print([s["loss_hex"] for s in d["steps"]], d["hashes"])
    sys.exit(0)
def walk(x, path):
    if isinstance(x, dict):
        for k, v in x.items(): walk(v, path + "." + k)
    elif isinstance(x, list):
        for i, v in enumerate(x): walk(v, path + "[%d]" % i)
    elif any(w in path for w in ("checksum", "abs_sum", "max_abs_diff", "bit_identical")):
        print(path, repr(x))
walk(d, "")
PY
}

# has TEXT FILE: the file $T/FILE of the last run holds TEXT (a grep pattern).
has() { grep -q -- "$1" "$T/$2"; }

# py EXPR FILES...: exit 0 if the Python expression EXPR holds over j, the list of the JSON
# documents FILES; rel(a, b) says a is within 1e-5 relative of b.
py() {
    expr=$1; shift
    python3 - "$expr" "$@" <<'PY'
import json, sys
j = [json.load(open(f)) for f in sys.argv[2:]]
rel = lambda a, b: abs(a - b) <= 1e-5 * abs(b)
sys.exit(0 if eval(sys.argv[1]) else 1)
PY
}

# mpi_built: the build $B has the MPI transport (make MPI=0, or no mpicc, leaves it out).
mpi_built() { nm "$B/libpipa.a" 2>/dev/null | grep -q ' D pipa__transport_mpi$'; }

# ranks LIMIT N PROG ARGS...: PROG on N ranks through $RUN (tests/ranks.sh: the transport of the
# pass), stopped after LIMIT seconds; sets rc, writes $T/out and $T/err.
ranks() {
    _limit=$1; _n=$2; shift 2
    timeout -k 5 "$_limit" "$RUN" -n "$_n" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
