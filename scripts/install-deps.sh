#!/bin/sh
# Installs the Debian packages pipa needs to build and test, only when some are missing
# (python3: the test scripts read JSON and hex floats with it; python3-torch: the tests that build
# Hugging Face folders and read pipa's exports back (tests/test_hf.sh) and the PyTorch peer of
# the benchmarks, installed without its recommends (compilers, headers: not needed); procps: the launcher test reads
# process groups and states with ps; python3-sentencepiece: the tokenizer test regenerates its
# reference with it (tests/test_spm_regen.sh); openmpi-bin and libopenmpi-dev: the MPI transport, built
# when mpicc is found, and its tests under mpirun).
# Runs apt-get as root, or through sudo when not root. Says what it does.
set -e
need="libopenblas-dev libblis-dev python3 procps openmpi-bin libopenmpi-dev python3-sentencepiece python3-torch"
missing=""
for p in $need; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "pipa: installing missing Debian packages:$missing"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
plain=$(echo "$missing" | tr ' ' '\n' | grep -vx 'python3-torch' | tr '\n' ' ')
[ -n "${plain# }" ] && $SUDO apt-get install -y -qq $plain >/dev/null
case "$missing" in *python3-torch*)
    $SUDO apt-get install -y -qq --no-install-recommends python3-torch >/dev/null ;;
esac
echo "pipa: installed:$missing"
