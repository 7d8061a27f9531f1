"""The one reader for files a person gives us (policies, suites, actions, runbooks,
scenarios, traces, eval cases, the chat's people): their text, or one `InputError`
naming the file, what is wrong (for bytes that are not UTF-8: the byte, its offset and
line) and the fix.

Imports only the core, so every layer that reads a person's file may use it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpusteward.core.documents import parse_duration
from gpusteward.core.errors import InputError

__all__ = [
    "option_duration",
    "option_time",
    "png_option",
    "read_user_file",
    "read_user_first_line",
    "save_png",
]

_BOM = b"\xef\xbb\xbf"  # a spreadsheet's or an editor's byte-order mark: not content
_LONGEST_FIRST_LINE = 1 << 16


def read_user_file(
    path: Path,
    what: str,
    *,
    error: type[InputError] = InputError,
    missing: str = "check the path",
) -> str:
    """The text of `path`, a `what` ("policy file"), decoded as UTF-8 without a byte-order
    mark. Problems raise `error` (a subclass of InputError, e.g. ScenarioError) naming the
    file and the fix; `missing` is the fix for a path that does not exist."""
    return _decode(path, _bytes(path, what, error, missing, first_line=False), what, error)


def read_user_first_line(
    path: Path,
    what: str,
    *,
    error: type[InputError] = InputError,
    missing: str = "check the path",
) -> str:
    """`read_user_file`'s first line only (without its end), for a file too large to read
    just to tell its format by its header."""
    return _decode(path, _bytes(path, what, error, missing, first_line=True), what, error)


def _bytes(
    path: Path, what: str, error: type[InputError], missing: str, *, first_line: bool
) -> bytes:
    try:
        with path.open("rb") as f:
            return f.readline(_LONGEST_FIRST_LINE).rstrip(b"\r\n") if first_line else f.read()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}. Fix: {missing}.") from None
    except IsADirectoryError:
        raise error(f"{path}: a folder, not a {what}. Fix: give the file's path.") from None
    except OSError as e:
        raise error(
            f"{path}: cannot read the {what} ({e.strerror or e}). Fix: check the path and "
            "its permissions."
        ) from None


def _decode(path: Path, data: bytes, what: str, error: type[InputError]) -> str:
    body = data.removeprefix(_BOM)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        offset = e.start + len(data) - len(body)
        line = data.count(b"\n", 0, offset) + 1
        raise error(
            f"{path}: not UTF-8 text: byte 0x{data[offset]:02x} at offset {offset} (line "
            f"{line}) cannot be decoded, so this is not a {what}. Fix: save it as UTF-8 (e.g. "
            f"iconv -f latin1 -t utf-8), or give the {what} you meant."
        ) from None


# -- option values and output files a person names ----------------------------------


def png_option(png: Path | None) -> Path | None:
    """`--png`: None for no plot (`--png ""`: typer gives Path(".")); otherwise a .png file
    in an existing folder, checked before the work, not after."""
    if png is None or str(png) in ("", "."):
        return None
    if png.suffix.lower() != ".png" or png.is_dir():
        raise InputError(f"--png {png}: not a .png file name. Fix: e.g. --png band.png.")
    if not png.parent.is_dir():
        raise InputError(
            f"--png {png}: the folder {png.parent} does not exist. Fix: create it, or write "
            "the plot elsewhere."
        )
    if png.is_symlink():  # a link (perhaps to nothing yet): `save_png` finds out
        return png
    existed = png.exists()
    try:  # can it be written? Found now, not after minutes of work
        with png.open("ab"):  # appends nothing: an existing plot is left as it is
            pass
    except OSError as e:
        raise _cannot_write(png, e) from None
    if not existed:
        png.unlink(missing_ok=True)
    return png


def _cannot_write(png: Path, e: OSError) -> InputError:
    return InputError(
        f"--png {png}: cannot write it ({e.strerror or e}). Fix: a file name in a folder you "
        "can write to, or leave --png out for no plot."
    )


def save_png(fig: Any, png: Path) -> None:
    """`fig.savefig(png)`, an InputError naming --png if it cannot be written."""
    try:
        fig.savefig(png, dpi=90)
    except OSError as e:
        raise _cannot_write(png, e) from None


def option_duration(option: str, value: str) -> float:
    """Seconds of a duration option's value (10m, 1h, 2d); an InputError naming the fix."""
    try:
        return parse_duration(value)
    except ValueError as e:
        raise InputError(
            f"{option} {value!r}: {e}. Fix: a duration such as 10m, 1h or 1d."
        ) from None


def option_time(option: str, value: str) -> datetime:
    """An ISO 8601 time option's value; a time without a zone is read as UTC."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{option} {value!r}: expected an ISO 8601 time, e.g. 2026-11-02T06:00:00+00:00"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
