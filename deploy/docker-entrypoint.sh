#!/bin/sh
# The container's entry point. Without arguments: bring the schema up to date, then become
# the service (exec, so `monitor run` receives SIGTERM itself). With arguments: run them, e.g.
# `monitor list`, or `monitor run` alone for extra workers whose schema a migrate job handles.
set -eu
if [ "$#" -eq 0 ]; then
    monitor db upgrade
    exec monitor run
fi
exec "$@"
