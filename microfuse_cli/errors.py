"""Exceptions the CLI turns into one-line ``error:`` messages.

Library code raises these instead of exiting, so a Python user can catch them. Also the one rule for a whole number
a caller passes (``whole_number``): the lowest module, so that the data model (records.py) and runtime.py share it.
"""

import numbers


class MicrofuseError(Exception):
    """Base class for every error microfuse reports to the user; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class DataError(MicrofuseError):
    """The input data is malformed, inconsistent or unusable (exit code 1): read from a file, or values of a record
    built by hand that do not fit together (a gene's start past its end)."""

    exit_code = 1


class UsageError(MicrofuseError):
    """The options asked for something impossible, or a caller passed an argument of the wrong Python kind (a
    hand-built Genome's fields included): a slip of the caller, never of the data (exit code 2)."""

    exit_code = 2


def whole_number(value: object) -> bool:
    """An int (numpy's too), not a bool: 1.5 threads were cut to 1, None was a TypeError, and a text coordinate of a
    hand-built gene failed a comparison deep inside."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def true_or_false(value: object) -> bool:
    """A bool (numpy's too, a 0-d one): the one rule for a flag a caller passes. fused='yes' and offline='x' were
    taken as true, circular='no' paired a scaffold's last gene with its first."""
    return isinstance(value, bool) or (getattr(getattr(value, "dtype", None), "kind", "") == "b"
                                       and getattr(value, "ndim", None) == 0)


def check_flags(function: str, **flags: object) -> None:
    """Refuse a flag of a public call that is not True or False (:func:`true_or_false`), before any work:
    ``check_flags("score_genome", fused=fused, offline=offline)``."""
    for name, value in flags.items():
        if not true_or_false(value):
            raise UsageError(f"{function}'s {name} is True or False, not {value!r}")


class StdoutClosed(Exception):
    """The reader of stdout went away (``| head``): not an error, the run ends quietly (not an OSError, which
    click would turn into exit 1)."""
