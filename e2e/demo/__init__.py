"""The main job on the local stack: the operator in the background, and the demo.

`python -m demo up|demo|run|down` (PYTHONPATH=e2e; the Makefile's `make up`, `make
demo`, `make run`, `make down`). The operator runs as a local process against the
stack, with the ServiceAccount and ClusterRole it would have in a cluster.
"""
