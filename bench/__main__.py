"""``python -m bench smoke`` (seconds, run by the test suite) or ``python -m bench run`` (the full
measurement, ~20 minutes on 2 cores). See docs/scaling.md, "Running the benchmark".

Posting variants, interleaved in every round: B1 raw psycopg (the denominator of every ratio), B2 the
engine without HTTP, B0 pgbench, and the HTTP API: B3 (gunicorn gthread, Redis as CACHE_URL), B3L (the
local-memory default cache), B3W / B3WL (one enabled webhook endpoint, the worker delivering), and
B3-<server> / B3L-<server> for each other server of --servers."""

import argparse
import json
import sys
from pathlib import Path

from bench import runner
from bench.servers import SERVERS


def _names(text: str, allowed, what: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{what}: {', '.join(unknown) or 'none given'}; choose from {', '.join(allowed)}")
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["smoke", "run"],
                        help="smoke: tiny sizes, every path and variant once (under a minute on a quiet "
                             "machine); run: the full plan")
    parser.add_argument("--keep", action="store_true", help="keep the private cluster's directory afterwards")
    parser.add_argument("--out", type=Path, help="where to write the JSON (the .md goes beside it)")
    parser.add_argument("--phases", help="comma-separated subset of: reads,pages,reconcile,posting,profile,"
                                         "pgbouncer,bulk,grants,webhooks,pooling,replicas (profile: one cell "
                                         "against gunicorn under py-spy, app CPU per request and the top "
                                         "frames; replicas: a streaming standby serving the history)")
    parser.add_argument("--quiet", action="store_true", help="do not print the Markdown report")
    parser.add_argument("--cells", help="posting cells instead of the plan's, e.g. many:8,hot:8,many+idem:8 "
                                        "(then every server variant runs in every cell, webhooks in the many cells)")
    parser.add_argument("--rounds", type=int, help="rounds per posting cell (with --cells)", default=2)
    parser.add_argument("--seconds", type=float, help="seconds per posting run (with --cells)", default=1.5)
    parser.add_argument("--sizes", choices=["smoke", "mid", "full"], help="data sizes (default: the mode's)")
    parser.add_argument("--servers", help=f"application servers for the API variants, comma-separated, of: "
                                          f"{','.join(SERVERS)} (run default: gthread; the others run in many:8 "
                                          "and hot:8; smoke: all, in its first cell)")
    parser.add_argument("--caches", help="caches for every API variant: redis (CACHE_URL, our redis-server), "
                                         "local (the local-memory default); default: redis,local")
    parser.add_argument("--webhooks", choices=["on", "off"],
                        help="on (default): B3W/B3WL, one subscribed endpoint and the worker delivering, in many:8")
    parser.add_argument("--profile-seconds", type=float, help="seconds of the profile phase's run (default: run 4, "
                                                              "smoke 0.5)")
    parser.add_argument("--coalesce", action="store_true",
                        help="also the API with coalescing off (B3t) and on (B3c) on gunicorn 2 workers x 8 threads, "
                             "with each cache (B3tL, B3cL)")
    args = parser.parse_args(argv)
    plan = runner.smoke_plan() if args.mode == "smoke" else runner.full_plan()
    try:
        servers = _names(args.servers, SERVERS, "unknown server") if args.servers else None
        caches = _names(args.caches, runner.CACHES, "unknown cache") if args.caches else None
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.phases:
        plan.phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
        unknown = [p for p in plan.phases if not hasattr(runner.Run, f"{p}_phase")]
        if unknown:
            parser.error(f"unknown phase: {', '.join(unknown)}")
    if args.sizes:
        plan.sizes = {"smoke": runner.data.SMOKE, "mid": runner.data.MID, "full": runner.data.FULL}[args.sizes]
    server_cells = next((a.only for a in plan.app if a.server != "gthread"), ("many:8", "hot:8"))
    webhook_cells = next((a.only for a in plan.app if a.webhooks), ("many:8",))
    if args.cells:
        plan.cells = []
        for cell in args.cells.split(","):
            name, _, clients = cell.partition(":")
            if name.removesuffix("+idem") not in ("many", "hot", "skewed") or not clients.isdigit():
                parser.error(f"not a cell: {cell!r} (many|hot|skewed[+idem]:CLIENTS)")
            workload = runner.posting.Workload(name.removesuffix("+idem"), idempotency=name.endswith("+idem"))
            plan.cells.append((workload, int(clients), args.rounds, args.seconds))
        server_cells = None
        webhook_cells = tuple(c.strip() for c in args.cells.split(",") if c.strip().startswith("many:")) or None
    plan.app = runner.app_variants(
        servers=servers or tuple(dict.fromkeys(a.server for a in plan.app)),
        caches=caches or plan.caches,
        webhooks=(args.webhooks != "off") if args.webhooks else any(a.webhooks for a in plan.app),
        server_cells=server_cells, webhook_cells=webhook_cells,
        coalesce=args.coalesce or any(a.tag for a in plan.app),
        server_caches=None if args.caches else
        tuple(dict.fromkeys(a.cache for a in plan.app if a.server != "gthread")) or None)
    if args.profile_seconds:
        plan.profile_cell = (*plan.profile_cell[:2], args.profile_seconds)
    results, out = runner.execute(plan, keep=args.keep, out=args.out)
    if not args.quiet:
        print(out.with_suffix(".md").read_text())
    print(json.dumps({"results": str(out), "valid": results["valid"], "void": results["void"]}))
    return 0 if results["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
