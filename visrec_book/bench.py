"""``make bench``: run every benchmark module and print/write its tables.

Each module ``visrec_helpers/benchmarks/bench_<topic>.py`` defines
``run(quick: bool = False) -> list[tuple[str, pandas.DataFrame]]``. Tables are printed
and written to ``build/bench.md`` with the machine they were measured on. A table whose
``df.attrs["plot"]`` names an image file (a PNG the module wrote) is followed by a link to it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import time
from pathlib import Path


def machine_line() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, torch {torch.__version__}, {gpu}")


def discover() -> list[str]:
    from . import benchmarks

    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m visrec_book.bench")
    ap.add_argument("--out", default="build/bench.md")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    ap.add_argument("--only", nargs="*", help="benchmark module names (bench_x) to run")
    args = ap.parse_args(argv)
    names = [n for n in discover() if not args.only or n in args.only]
    if not names:
        print("no benchmark modules found")
        return 1
    avg = os.getloadavg() if hasattr(os, "getloadavg") else None
    load = "n/a" if avg is None else " / ".join(f"{x:.1f}" for x in avg)
    busy = avg is not None and avg[0] > (os.cpu_count() or 1)
    lines = [f"# Benchmarks\n\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine_line()}; "
             f"load average at the start {load} (1/5/15 min"
             f"{'; above the core count: other work competed, times are inflated' if busy else ''}).\n"]
    for name in names:
        mod = importlib.import_module(f"visrec_book.benchmarks.{name}")
        t0 = time.perf_counter()
        for title, df in mod.run(quick=args.quick):
            text = df.to_markdown(index=False, floatfmt=".4g") if hasattr(df, "to_markdown") else str(df)
            print(f"\n## {title}\n\n{text}")
            lines.append(f"\n## {title}\n\n{text}\n")
            plot = getattr(df, "attrs", {}).get("plot")  # a PNG the module drew for this table
            if plot:
                rel = os.path.relpath(plot, Path(args.out).parent)
                print(f"(plot: {plot})")
                lines.append(f"\n![{title}]({rel})\n")
        print(f"({name}: {time.perf_counter() - t0:.1f} s)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
