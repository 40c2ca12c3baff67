"""Thin async adapters for the outside world: the Kubernetes API and Prometheus.

They translate HTTP into Python values and errors that say whether a retry can
help; every decision about what to do with those values lives elsewhere.
"""
