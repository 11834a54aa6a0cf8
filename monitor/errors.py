"""The exception tree the CLI turns into one-line messages and exit codes.

MonitorError
 ├── ConfigError     the configuration file is wrong (exit 2)
 ├── SchemaError     the database schema is out of date (exit 3)
 ├── StoreError      the database refused something (exit 1)
 ├── ParseError      a feed or page could not be read at all (exit 1)
 ├── NotFoundError   a story or version the user named does not exist (exit 1)
 └── UsageError      the command line asks for something impossible or unknown (exit 2)
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class: its message is shown to the user as one line."""

    exit_code = 1


class ConfigError(MonitorError):
    exit_code = 2


class SchemaError(MonitorError):
    exit_code = 3


class StoreError(MonitorError):
    pass


class ParseError(MonitorError):
    pass


class NotFoundError(MonitorError):
    pass


class UsageError(MonitorError):
    exit_code = 2
