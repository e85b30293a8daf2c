"""Benchmarks: each ``bench_<topic>.py`` module defines ``run(quick: bool) -> list[(title, DataFrame)]``."""
