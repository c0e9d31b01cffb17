"""``python -m benchmarks.protocol`` with MTCS's ``AUTO_TIMEPOINTS`` set to
``argv[1]`` (a candidate budget of ``n_epochs="auto"``); the other arguments
go to the protocol."""

import sys

import vlmtsc.classification._mtcs as mtcs

mtcs.AUTO_TIMEPOINTS = int(float(sys.argv[1]))

from benchmarks.protocol import main  # noqa: E402

main(sys.argv[2:])
