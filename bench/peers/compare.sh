#!/bin/sh
# compare.sh: pipa against its PyTorch peer on the same work, runs alternating (see compare.py).
#   sh bench/peers/compare.sh [--quick] [--only NAME,...] [--rounds N] [--reps N] [--build DIR]
# Run from the repository root after `make all`; needs Debian's python3-torch (/usr/bin/python3).
exec /usr/bin/python3 "$(dirname "$0")/compare.py" "$@"
