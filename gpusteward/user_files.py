"""The one reader for files a person gives us (policies, suites, actions, runbooks,
scenarios, traces, eval cases, the chat's people): their text, or one `InputError`
naming the file, what is wrong (for bytes that are not UTF-8: the byte, its offset and
line) and the fix.

Imports only the core, so every layer that reads a person's file may use it.
"""

from __future__ import annotations

from pathlib import Path

from gpusteward.core.errors import InputError

__all__ = ["read_user_file", "read_user_first_line"]

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
