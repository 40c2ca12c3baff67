"""Benchmarks (`make bench`): medians of repeated runs, printed, never asserted.

Speed targets are checked by reading these numbers, not by timed tests, because a
shared 2-core machine makes any wall-clock assertion flaky.
"""
