"""``python -m bench smoke`` (seconds, run by the test suite) or ``python -m bench run`` (the full
measurement, ~15 minutes). See docs/scaling.md."""

import argparse
import json
import sys
from pathlib import Path

from bench import runner


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("mode", choices=["smoke", "run"], help="smoke: tiny sizes, every path once; run: the full plan")
    parser.add_argument("--keep", action="store_true", help="keep the private cluster's directory afterwards")
    parser.add_argument("--out", type=Path, help="where to write the JSON (the .md goes beside it)")
    parser.add_argument("--phases", help="comma-separated subset of: reads,posting,pgbouncer,bulk,reconcile")
    parser.add_argument("--quiet", action="store_true", help="do not print the Markdown report")
    args = parser.parse_args(argv)
    plan = runner.smoke_plan() if args.mode == "smoke" else runner.full_plan()
    if args.phases:
        plan.phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    results, out = runner.execute(plan, keep=args.keep, out=args.out)
    if not args.quiet:
        print(out.with_suffix(".md").read_text())
    print(json.dumps({"results": str(out), "valid": results["valid"], "void": results["void"]}))
    return 0 if results["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
