"""`python -m bench`: the standard benchmark set (see bench/run.py and bench/README.md)."""

import sys

from bench.run import main

sys.exit(main())
