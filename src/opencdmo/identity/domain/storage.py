"""Where a container sits in cryostorage: freezer → rack → box → position.

A box holds `rows` × `columns` positions named by row letter and column number (A1 … E5, as
printed on cryoboxes). A position's barcode is the box code, '/', the position
(`LN2-01-R1-B03/A5`); operators also type it, so spaces and lower case are tolerated. Codes of
freezers, racks and boxes are printed on labels and typed at the freezer: capitals, digits and
hyphens only, and never '/', which separates the box from the position.
"""

import re
import string
from dataclasses import dataclass

ROW_LETTERS = string.ascii_uppercase
MAX_ROWS = len(ROW_LETTERS)
MAX_COLUMNS = 99  # "Z99" still fits the four characters a position is stored in

_CODE = re.compile(r"[A-Z0-9](?:[A-Z0-9-]*[A-Z0-9])?")
_POSITION = re.compile(r"([A-Z])([0-9]{1,2})")


class StorageError(ValueError):
    """A code, position or box size that cannot be used, with what to do instead."""


@dataclass(frozen=True)
class PositionScan:
    box: str
    position: str

    def __str__(self) -> str:
        return f"{self.box}/{self.position}"


def storage_code(text, what: str, *, max_length: int) -> str:
    """A freezer, rack or box code as stored: upper case, without surrounding spaces."""
    code = str(text or "").strip().upper()
    if not code:
        raise StorageError(f"{what} is required.")
    if len(code) > max_length:
        raise StorageError(f"{what} is at most {max_length} characters.")
    if not _CODE.fullmatch(code):
        raise StorageError(f"{what} '{code}' may hold only letters, digits and hyphens (e.g. LN2-01-R1-B03).")
    return code


def box_size(rows, columns) -> tuple[int, int]:
    try:
        rows, columns = int(rows), int(columns)
    except (TypeError, ValueError):
        raise StorageError("Give the number of rows and columns of the box as whole numbers.") from None
    if not 1 <= rows <= MAX_ROWS:
        raise StorageError(f"A box has 1 to {MAX_ROWS} rows (lettered A–Z).")
    if not 1 <= columns <= MAX_COLUMNS:
        raise StorageError(f"A box has 1 to {MAX_COLUMNS} columns.")
    return rows, columns


def position_name(row: int, column: int) -> str:
    """The position at a row and a column, both counted from 1: (1, 5) → A5."""
    return f"{ROW_LETTERS[row - 1]}{column}"


def grid(rows: int, columns: int) -> list[list[str]]:
    """The positions of a box, row by row, as the box is seen from above."""
    return [[position_name(r, c) for c in range(1, columns + 1)] for r in range(1, rows + 1)]


def position_in_box(position: str, rows: int, columns: int, *, box: str = "the box") -> str:
    """The position as stored (A5, never A05), if the box has it."""
    match = _POSITION.fullmatch(str(position or "").strip().upper())
    if not match:
        raise StorageError(f"'{position}' is not a position: a position is a row letter and a column number, "
                           "e.g. A5.")
    row, column = ROW_LETTERS.index(match[1]) + 1, int(match[2])
    if row > rows or not 1 <= column <= columns:
        raise StorageError(f"{box} has no position {match[1]}{column}: its positions are A1 to "
                           f"{position_name(rows, columns)}. Check the box and scan again.")
    return position_name(row, column)


def read_position_scan(text) -> PositionScan:
    """The box and position named by a scanned or typed position barcode ('LN2-01-R1-B03/A5')."""
    compact = "".join(str(text or "").split()).upper()
    if not compact:
        raise StorageError("Scan the position's barcode (box code/position, e.g. LN2-01-R1-B03/A5).")
    box, slash, position = compact.rpartition("/")
    if not slash or not box or not position:
        raise StorageError(f"'{compact[:40]}' is not a position barcode: scan the position label, or type the box "
                           "code, '/', and the position (e.g. LN2-01-R1-B03/A5).")
    if not _CODE.fullmatch(box):
        raise StorageError(f"'{box[:40]}' is not a box code: scan the position label again.")
    if not _POSITION.fullmatch(position):
        raise StorageError(f"'{position[:10]}' is not a position: a position is a row letter and a column "
                           "number, e.g. A5.")
    return PositionScan(box, position)
