"""Root pytest plugin: prints the slowest notebooks (summed nbval cell times) at the end."""

from collections import defaultdict

_NOTEBOOK_SECONDS: dict = defaultdict(float)
_NOTEBOOK_FAILED: set = set()


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] += report.duration
        if report.failed:
            _NOTEBOOK_FAILED.add(path)


def pytest_terminal_summary(terminalreporter):
    if not _NOTEBOOK_SECONDS:
        return
    tr = terminalreporter
    tr.section("notebook execution times (slowest first)")
    for path, secs in sorted(_NOTEBOOK_SECONDS.items(), key=lambda kv: -kv[1]):
        flag = "  FAILED" if path in _NOTEBOOK_FAILED else ""
        tr.write_line(f"{secs:8.1f} s  {path}{flag}")
    tr.write_line(f"{sum(_NOTEBOOK_SECONDS.values()):8.1f} s  total over {len(_NOTEBOOK_SECONDS)} notebooks")
