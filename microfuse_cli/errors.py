"""Exceptions the CLI turns into one-line ``error:`` messages.

Library code raises these instead of exiting, so a Python user can catch them. Also the one rule for a whole number
a caller passes (``whole_number``): the lowest module, so that the data model (records.py) and runtime.py share it.
"""

import logging
import numbers


class MicrofuseError(Exception):
    """Base class for every error microfuse reports to the user; ``exit_code`` is what the CLI returns.

    A message names what the caller gave as that caller spells it: ``str(error)`` the Python argument
    (``pair_list``), ``cli_message`` the command-line option (``--pairs``) where the two differ. :meth:`naming`
    makes both from one text; the CLI prints ``cli_message`` when there is one. Messages that only a command can
    raise (its own option checks) name the option alone.
    """

    exit_code = 1
    #: The message as the command line says it (its options), where it differs from ``str(error)``; else None.
    cli_message: "str | None" = None

    @classmethod
    def naming(cls, *parts: "str | tuple[str, str]") -> "MicrofuseError":
        """This error of text ``parts``, each a str or a ``(python, option)`` pair: ``str(error)`` joins the
        Python spellings, ``cli_message`` the options. One text for both readers, so the two never drift apart:
        ``UsageError.naming(("pair_list", "--pairs"), " and ", ("labels", "--labels"), " both name pairs")``."""
        python, cli = spellings(*parts)
        error = cls(python)
        error.cli_message = cli  # pickled with the error
        return error

    def for_cli(self) -> str:
        """The message the CLI shows: ``cli_message`` where the command line spells the options otherwise."""
        return self.cli_message if self.cli_message is not None else str(self)


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


def spellings(*parts: "str | tuple[str, str]") -> "tuple[str, str]":
    """(Python text, command-line text) of :meth:`MicrofuseError.naming`'s ``parts``."""
    return ("".join(p if isinstance(p, str) else p[0] for p in parts),
            "".join(p if isinstance(p, str) else p[1] for p in parts))


def log_naming(logger: logging.Logger, level: int, *parts: "str | tuple[str, str]") -> None:
    """Log a message that names a setting as :meth:`MicrofuseError.naming` words an error: the record's message
    names the Python argument (``genetic_code=4``: what a caller's handler shows), its ``cli_message`` attribute
    the option (``-g 4``), which the CLI prints. Library warnings name settings only through this, so a notebook
    is not told to pass ``-g``, nor a shell user ``genetic_code``."""
    python, cli = spellings(*parts)
    logger.log(level, "%s", python, extra={"cli_message": cli} if cli != python else None, stacklevel=2)


#: The sequences of a GFF3 without ##FASTA, as a :meth:`MicrofuseError.naming` part: each reader's spelling.
FASTA = ("read_genome's fasta", "--fasta")


class StdoutClosed(Exception):
    """The reader of stdout went away (``| head``): not an error, the run ends quietly (not an OSError, which
    click would turn into exit 1)."""
