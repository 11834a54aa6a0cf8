"""`monitor demo` and the simulated newsroom it runs against, which the tests and the
benchmarks use too: `newsroom` (outlets, feeds, articles and their edits), `content` (the
demo's articles and script), `generated` (the benchmarks' synthetic site), `webserver` (the
local HTTP server) and `run` (the demo itself)."""
