"""The two errors every service raises to say what happens next, without Faust (loa_core.streaming re-exports them
and decides on them: retry, or the dead-letter topic). Here so a process that consumes nothing (the metrics
poller, a CLI) can raise and catch them without importing Faust."""

from __future__ import annotations


class RetryableError(Exception):
    """Try again later: storage or a platform is briefly unavailable."""


class PermanentError(Exception):
    """Will never succeed as is: goes to the dead-letter topic with this message."""
