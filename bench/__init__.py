"""The benchmark harness: the product against a raw-PostgreSQL baseline, same run, same machine.

``python -m bench smoke`` · ``python -m bench run`` — see docs/scaling.md.
"""
