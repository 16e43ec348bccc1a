#!/bin/sh
# Installs the Debian packages pipa needs to build and test, only when some are missing
# (python3: the test scripts read JSON and hex floats with it; PyTorch is only for regenerating
# the committed reference files, so it is not installed here; procps: the launcher test reads
# process groups and states with ps; python3-sentencepiece: the tokenizer test regenerates its
# reference with it (tests/test_spm_regen.sh); openmpi-bin and libopenmpi-dev: the MPI transport, built
# when mpicc is found, and its tests under mpirun).
# Runs apt-get as root, or through sudo when not root. Says what it does.
set -e
need="libopenblas-dev libblis-dev python3 procps openmpi-bin libopenmpi-dev python3-sentencepiece"
missing=""
for p in $need; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "pipa: installing missing Debian packages:$missing"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $missing >/dev/null
echo "pipa: installed:$missing"
