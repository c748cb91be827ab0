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
    parser.add_argument("--phases",
                        help="comma-separated subset of: reads,pages,posting,pgbouncer,bulk,reconcile,grants,webhooks")
    parser.add_argument("--quiet", action="store_true", help="do not print the Markdown report")
    parser.add_argument("--cells", help="posting cells instead of the plan's, e.g. many:8,hot:8,many+idem:8")
    parser.add_argument("--rounds", type=int, help="rounds per posting cell (with --cells)", default=2)
    parser.add_argument("--seconds", type=float, help="seconds per posting run (with --cells)", default=1.5)
    parser.add_argument("--sizes", choices=["smoke", "mid", "full"], help="data sizes (default: the mode's)")
    parser.add_argument("--coalesce", action="store_true",
                        help="also post through gunicorn 2x8 threads with coalescing off (B3t) and on (B3c)")
    args = parser.parse_args(argv)
    plan = runner.smoke_plan() if args.mode == "smoke" else runner.full_plan()
    if args.phases:
        plan.phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    if args.sizes:
        plan.sizes = {"smoke": runner.data.SMOKE, "mid": runner.data.MID, "full": runner.data.FULL}[args.sizes]
    if args.cells:
        plan.cells = []
        for cell in args.cells.split(","):
            name, clients = cell.split(":")
            workload = runner.posting.Workload(name.removesuffix("+idem"), idempotency=name.endswith("+idem"))
            plan.cells.append((workload, int(clients), args.rounds, args.seconds))
    plan.coalesce = args.coalesce
    results, out = runner.execute(plan, keep=args.keep, out=args.out)
    if not args.quiet:
        print(out.with_suffix(".md").read_text())
    print(json.dumps({"results": str(out), "valid": results["valid"], "void": results["void"]}))
    return 0 if results["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
