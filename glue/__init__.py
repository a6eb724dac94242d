"""Thin Python glue for the school planner's reports cache.

The glue never computes a score: every number is defined once, in SQL. It calls the RPCs
(`glue.api`, over `glue.rpc`'s transports), wraps the writes in telemetry with fire-and-forget
recalculation (`glue.results`), runs the queue worker, relays realtime events, serves the AI
marker's webhook and records telemetry; `glue.config` holds its settings. Migrations, generated
data and the other tools are `glue_tools`' (the `glue` command).
"""

__version__ = "0.1.0"
