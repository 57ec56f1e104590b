"""The library's own exceptions: each one means "the input or the situation is wrong,
and the message says how", so the command line prints its message as one line. Any
other exception is a bug in cgan_lib and keeps its traceback.

They also subclass the built-in type a caller would expect (ValueError for bad values,
RuntimeError for a failed run), so `except ValueError` keeps working in user code.
"""

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes 64-bit seeds
MAX_IMAGES = 100_000  # 78 MB of uint8 digits in one call: more is a typo


class CganError(Exception):
    """Base class: a problem cgan_lib has explained in its message."""


class BadInput(CganError, ValueError):
    """A value outside what a function accepts; the message names the value and the
    accepted range.
    """


class CheckpointError(CganError, ValueError):
    """A file that is not a usable checkpoint: missing, truncated, not ours, another
    kind or model.
    """


class TrainingDiverged(CganError, RuntimeError):
    """A loss or a weight became NaN or infinite; nothing was saved after it."""


class MNISTUnavailable(CganError, RuntimeError):
    """No source of MNIST worked; the message lists what was tried."""


class RunLocked(CganError, RuntimeError):
    """Another live process is writing to the same run folder."""


class PeerLost(CganError, RuntimeError):
    """On several processes (chapter 13): another process of the run failed or
    stopped, so this one stops too.
    """


def check_range(name: str, value, lo=None, hi=None, *, integer=False, lo_open=False):
    """`value` as a finite int (integer=True) or float within [lo, hi] (lo excluded with
    lo_open).

    Raises BadInput naming the value and the accepted range, so a typo such as `--ema
    nan` or `--augment inf` stops at the boundary instead of producing a run of black
    digits.
    """
    accepted = describe_range(lo, hi, integer=integer, lo_open=lo_open)
    if isinstance(value, bool):
        raise BadInput(f"{name} must be {accepted}, got {truncated_repr(value)}")
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError, OverflowError):
        raise BadInput(
            f"{name} must be {accepted}, got {truncated_repr(value)}"
        ) from None
    if integer and number != value:
        raise BadInput(f"{name} must be {accepted}, got {truncated_repr(value)}")
    bad = number != number or number in (float("inf"), float("-inf"))
    bad = bad or (lo is not None and (number <= lo if lo_open else number < lo))
    bad = bad or (hi is not None and number > hi)
    if bad:
        raise BadInput(f"{name} must be {accepted}, got {truncated_repr(value)}")
    return number


def describe_range(lo=None, hi=None, *, integer=False, lo_open=False) -> str:
    """'a whole number in [1, 10]', 'a finite number > 0', ...: for messages."""
    kind = "a whole number" if integer else "a finite number"
    if lo is not None and hi is not None:
        return f"{kind} in {'(' if lo_open else '['}{lo}, {hi}]"
    if lo is not None:
        return f"{kind} {'>' if lo_open else '>='} {lo}"
    return f"{kind} <= {hi}" if hi is not None else kind


def truncated_repr(value, limit: int = 40) -> str:
    """repr(value), cut to about `limit` characters: a message never echoes a whole
    10,000-character typo back.
    """
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text)} chars)"


def check_digit(label) -> int:
    """A digit label 0..9 as an int, or BadInput naming the bad value."""
    if isinstance(label, bool) or not isinstance(label, int):
        try:
            as_int = int(label)
        except (TypeError, ValueError):
            raise BadInput(f"a digit must be an integer 0..9, got {label!r}") from None
        if as_int != label:
            raise BadInput(f"a digit must be an integer 0..9, got {label!r}")
        label = as_int
    if not 0 <= label <= 9:
        raise BadInput(f"a digit must be 0..9, got {label}")
    return label
