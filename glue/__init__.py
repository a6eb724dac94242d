"""Thin Python glue for the school planner's reports cache.

The glue never computes a score: every number is defined once, in SQL. It applies migrations,
generates data, calls RPCs, runs the queue worker, relays realtime events and records telemetry.
"""

__version__ = "0.1.0"
