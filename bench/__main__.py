"""`python -m bench`: the studio benchmark (see bench/run.py)."""

from bench.run import main

main()
