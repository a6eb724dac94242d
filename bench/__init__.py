"""The benchmark suite of the reports cache and its queue (`python -m bench`, `make bench`).

Every figure is a ratio of contenders measured side by side in one run, on schools generated into
scratch databases; docs/benchmarks.md explains each scenario and its target.
"""
