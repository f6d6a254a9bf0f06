"""Call every public function many times and check that resident memory stays flat.

    python tools/memory_soak.py                 # 100,000 calls per function
    python tools/memory_soak.py --calls 3000    # the quick CI run

A leak of a buffer or a reference count on any call path grows the resident
set with the number of calls; the inputs are small, so even a few bytes per
call show after many calls.  Prints one row per function and exits 1 when
any grows by more than --threshold MiB after a warm-up.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests"))
from test_robustness import every_function_calls  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls per function")
    parser.add_argument("--threshold", type=float, default=4.0, help="allowed growth, MiB")
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    calls = every_function_calls(np.random.default_rng(0), 9)
    print(f"{'function':<30}{'calls':>9}{'RSS before MiB':>16}{'after MiB':>11}{'growth KiB':>12}")
    failed = []
    for function, args, kwargs in calls:
        # Warm-up: caches, the OpenMP pool, the allocator's arenas.
        for _ in range(max(100, options.calls // 10)):
            function(*args, workers=options.workers, **kwargs)
        before = resident_bytes()
        for _ in range(options.calls):
            function(*args, workers=options.workers, **kwargs)
        growth = resident_bytes() - before
        print(f"{function.__name__:<30}{options.calls:>9}{before / 2**20:>16.1f}"
              f"{(before + growth) / 2**20:>11.1f}{growth / 1024:>12.0f}", flush=True)
        if growth > options.threshold * 2**20:
            failed.append(function.__name__)
    if failed:
        print(f"memory grew by more than {options.threshold} MiB: {', '.join(failed)}")
        return 1
    print("memory: flat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
