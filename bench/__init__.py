"""The phxpy benchmark suite: ``python bench/run.py --help``. Not part of the test run."""
