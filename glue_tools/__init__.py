"""The tools around the `glue` library: the command line (`glue`, `python -m glue_tools`), the demo,
the terminal renderer and live grid, the migration runner and function-migration generator, the
local platform (embedded cluster, Supabase shim, scratch databases), the school generator and the
batched backfill. The library never imports them."""
