"""The error hierarchy, drawn once.

GpustewardError
├── InputError            bad input from a person: file, field, value and fix (exit 2)
│   ├── ScenarioError     a scenario file or its trace
│   └── SettingsError     settings / environment
├── RunFailed             a run ended without a tick that did its work (exit 1)
├── Retryable             the next tick may succeed (an API timeout, a 5xx, a 409)
│   └── ClusterUnavailable
└── Permanent             retrying the same request will not help
    ├── ActionRejected    the backend refused an action as invalid
    └── JournalError      the journal file cannot be used as asked
"""

from __future__ import annotations


class GpustewardError(Exception):
    """Base of every error the project raises on purpose."""


class InputError(GpustewardError):
    """Input from a person was wrong. The message names the input, the value and the fix."""


class ScenarioError(InputError):
    """A scenario file (or a trace it names) is missing, malformed or invalid."""


class SettingsError(InputError):
    """A setting or environment variable is invalid."""


class RunFailed(GpustewardError):
    """A run ended, but every one of its ticks failed a stage: it did not do its work."""


class Retryable(GpustewardError):
    """A failure that may go away by itself; the next tick tries again."""


class ClusterUnavailable(Retryable):
    """The cluster backend could not be reached or answered with a transient error."""


class Permanent(GpustewardError):
    """A failure that repeating the same call will not fix."""


class ActionRejected(Permanent):
    """The backend refused an action (unknown target, impossible request)."""


class JournalError(Permanent):
    """The journal cannot be opened or used as asked (wrong scenario, corrupt file)."""
