"""ISBT 128 data structures for cellular therapy: structures and algorithms only (ISBT-0 … ISBT-8).

Nothing licensed is shipped here: facility identification numbers (FIN) and product description
codes (PDC) are the user's configuration, loaded from their own ICCBBA-licensed copy. What this
module knows is the shape of each data structure (ISBT-2), the ISO/IEC 7064 MOD 37-2 check
character (ISBT-4) and the date encodings (ISBT-7), so that a scanned or typed label can be read,
checked and refused with a message a material handler can act on.

Every structure is a frozen dataclass that validates itself when built; `text` is the data
structure as a barcode carries it (data identifier + data content).
"""

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import ClassVar

# ISO/IEC 7064 MOD 37-2 character values (ISBT-4): 0–9 → 0–9, A–Z → 10–35, '*' → 36 (check only).
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"

# Expiry and other dates are `cyyjjj`: century digit c counts centuries from this year (c = 0 ⇒
# 2000–2099). ISBT-7 marks this base as inferred, not read in the standard: kept in one place.
CENTURY_BASE = 2000

# Collection type `t` of a product code (ISBT-5): the one value an autologous therapy needs named.
AUTOLOGOUS_USE_ONLY = "1"

_DIGITS = "0123456789"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALPHANUMERIC = _DIGITS + _LETTERS
# Character sets of ISBT-3; O is never used where it could be read as 0 (nor 0 as the first FIN character).
_FIN_FIRST = ("123456789" + _LETTERS.replace("O", ""), "A–N, P–Z or 1–9 (never O or 0)")
_FIN_MIDDLE = (_DIGITS + _LETTERS.replace("O", ""), "A–N, P–Z or 0–9 (never O)")
_DIGIT = (_DIGITS, "a digit 0–9")
_ALNUM = (_ALPHANUMERIC, "a capital letter A–Z or a digit 0–9")
_FLAG = (_DIGITS + "ABCDEFGHJKLMNPRSTUVWXY", "a digit or A–H, J–N, P, R–Y")
_FIN = [_FIN_FIRST, _FIN_MIDDLE, _FIN_MIDDLE, _DIGIT, _DIGIT]


class Isbt128Error(ValueError):
    """A data structure that cannot be used as read; `reason` says which rule it breaks
    ('data identifier', 'length', 'characters', 'check character', 'flags', 'date', 'structure')."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


def _check_characters(what: str, value, positions: Sequence[tuple[str, str]]) -> str:
    """`value` unchanged when each character is in the set of its position; else why not."""
    if not isinstance(value, str):
        raise Isbt128Error(f"{what} must be text, not {type(value).__name__}.", reason="characters")
    if len(value) != len(positions):
        raise Isbt128Error(f"{what} '{value}' has {len(value)} characters; it must have {len(positions)}.",
                           reason="length")
    for place, (char, (allowed, description)) in enumerate(zip(value, positions, strict=True), start=1):
        if char in allowed:
            continue
        if len(char.upper()) == 1 and char.upper() in allowed and char != char.upper():
            raise Isbt128Error(f"{what} '{value}': character {place} must be the capital letter '{char.upper()}', "
                               f"not '{char}' (ISBT 128 uses capital letters here).", reason="characters")
        raise Isbt128Error(f"{what} '{value}': character {place} '{char}' is not allowed there; "
                           f"it must be {description}.", reason="characters")
    return value


# --- ISO/IEC 7064 MOD 37-2 (ISBT-4) ---------------------------------------------------------

def checksum(data: str) -> int:
    """The MOD 37-2 checksum (0–36) of `data` (capital letters and digits), pure system."""
    _check_characters("The data", data, [_ALNUM] * len(data))
    total = 0
    for char in data:
        total = ((total + ALPHABET.index(char)) * 2) % 37
    return (38 - total) % 37


def check_character(data: str) -> str:
    """The keyboard-entry check character K printed boxed after the eye-readable identifier."""
    return ALPHABET[checksum(data)]


def is_valid_with_check(data_and_k: str) -> bool:
    """True when the last character is the right check character of the ones before it."""
    if not isinstance(data_and_k, str) or len(data_and_k) < 2 or data_and_k[-1] not in ALPHABET:
        return False
    data = data_and_k[:-1]
    return all(char in _ALPHANUMERIC for char in data) and check_character(data) == data_and_k[-1]


# --- Structures ---------------------------------------------------------------------------

class DataStructure(ABC):
    """An ISBT 128 data structure: data identifier (DI) + data content of a fixed length. Each
    structure says how it writes its content and how it reads one back."""

    DI: ClassVar[str]
    NAME: ClassVar[str]
    LENGTH: ClassVar[int]  # characters of data content read after DI

    @property
    def data_identifier(self) -> str:
        return self.DI

    @property
    @abstractmethod
    def data_content(self) -> str: ...

    @property
    def text(self) -> str:
        """The structure as a barcode carries it."""
        return self.DI + self.data_content

    @classmethod
    @abstractmethod
    def from_content(cls, content: str): ...


def _year(value) -> str:
    """Two-digit nominal year from '26', 26 or 2026."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 9999:
            raise Isbt128Error(f"The year {value} is not a year.", reason="characters")
        return f"{value % 100:02d}"
    return value


@dataclass(frozen=True)
class Din(DataStructure):
    """Donation Identification Number with its flag characters (DS001, ISBT-3): `=αppppyynnnnnnff`.

    The DIN itself is the 13 characters facility + year + sequence; the flags are not part of it,
    so two labels of the same unit compare equal by `din13`.
    """

    facility: str  # FIN αpppp of the collecting facility: the site's configuration
    year: str
    sequence: str
    flags: str = "00"

    DI: ClassVar[str] = "="  # the DIN's DI is '=' + its first character, which is also its first data character
    NAME: ClassVar[str] = "DIN"
    LENGTH: ClassVar[int] = 15

    def __post_init__(self):
        _check_characters("The facility identification number", self.facility, _FIN)
        _check_characters("The DIN year", self.year, [_DIGIT] * 2)
        _check_characters("The DIN sequence number", self.sequence, [_DIGIT] * 6)
        _check_characters(f"The flag characters of DIN {self.din13}", self.flags, [_FLAG] * 2)
        if self.flags.isdigit() and (self.flags == "14" or self.flags >= "97"):
            raise Isbt128Error(f"Flag characters {self.flags} after DIN {self.eye_readable()} are reserved and not "
                               "in use: the label is misprinted. Do not use it; raise a deviation.", reason="flags")
        if self.flag_kind == "check" and self.flags != self.type3_flags:
            raise Isbt128Error(f"Flag characters {self.flags} after DIN {self.eye_readable()} do not match the DIN: "
                               "a character was misread or the label is damaged. Scan again; if it is refused "
                               "again, do not use the label and raise a deviation.", reason="flags")

    @classmethod
    def build(cls, facility: str, year, sequence, flags: str = "00") -> "Din":
        """A DIN from its parts; `year` may be 26 or 2026 and `sequence` a number."""
        if isinstance(sequence, int) and not isinstance(sequence, bool):
            if not 0 <= sequence <= 999_999:
                raise Isbt128Error(f"The DIN sequence number {sequence} does not fit in 6 digits.", reason="length")
            sequence = f"{sequence:06d}"
        return cls(facility, _year(year), sequence, flags)

    @property
    def data_identifier(self) -> str:
        return self.DI + self.facility[0]

    @property
    def din13(self) -> str:
        return self.facility + self.year + self.sequence

    @property
    def data_content(self) -> str:
        return self.din13 + self.flags

    @property
    def check_character(self) -> str:
        return check_character(self.din13)

    @property
    def type3_flags(self) -> str:
        """Flags that carry the check (Type 3): 60 + MOD 37-2 checksum of the 13-character DIN."""
        return f"{checksum(self.din13) + 60:02d}"

    @property
    def flag_kind(self) -> str:
        """'process control' (Type 1, 00–19), 'local' (Type 2, 20–59), 'check' (Type 3, 60–96) or 'other'."""
        if not self.flags.isdigit():
            return "other"
        value = int(self.flags)
        return "process control" if value < 20 else "local" if value < 60 else "check"

    @property
    def printed_flags(self) -> str:
        """Flags printed (rotated) beside the eye-readable DIN: none for 00 and for Type 3 flags."""
        return "" if self.flags == "00" or self.flag_kind == "check" else self.flags

    def eye_readable(self) -> str:
        """The 13 DIN characters as printed, e.g. 'G1234 17 654321'; the check character is boxed apart."""
        return f"{self.facility} {self.year} {self.sequence}"

    @classmethod
    def from_content(cls, content: str) -> "Din":
        return cls(content[:5], content[5:7], content[7:13], content[13:15])


@dataclass(frozen=True)
class ProductCode(DataStructure):
    """Product Code (DS003, ISBT-5): `=<αooootds`.

    The product description code (PDC) is the site's configuration from its licensed PDC
    database. For most categories (S cellular therapy among them) `t` is the collection type and
    `ds` the division; for categories M, N, R, T, V and W the three characters are a numeric division.
    """

    pdc: str
    collection_type: str  # '' for the categories whose `tds` is a three-digit division
    division: str = "00"

    DI: ClassVar[str] = "=<"
    NAME: ClassVar[str] = "product code"
    LENGTH: ClassVar[int] = 8
    _NUMERIC_DIVISION: ClassVar[str] = "MNRTVW"
    _PDC: ClassVar[list] = [(_LETTERS, "a capital letter (the product category)")] + [_ALNUM] * 4

    def __post_init__(self):
        _check_characters("The product description code", self.pdc, self._PDC)
        if self.pdc[0] in self._NUMERIC_DIVISION:
            if self.collection_type:
                raise Isbt128Error(f"Product category {self.pdc[0]} has no collection type; give a three-digit "
                                   "division instead ('000' when not divided).", reason="structure")
            _check_characters(f"The division of product {self.pdc}", self.division, [_DIGIT] * 3)
            return
        _check_characters(f"The collection type of product {self.pdc}", self.collection_type, [_ALNUM])
        if self.division not in ("00", "99"):
            # d: first division level A–Z; s: second level a–z, or 0 when there is none.
            _check_characters(f"The division of product {self.pdc}", self.division,
                              [(_LETTERS, "a capital letter A–Z"), ("0abcdefghijklmnopqrstuvwxyz",
                                                                    "a small letter a–z or 0")])

    @classmethod
    def build(cls, pdc: str, collection_type: str = "", division: str = "00") -> "ProductCode":
        return cls(pdc, collection_type, division)

    @property
    def data_content(self) -> str:
        return self.pdc + self.collection_type + self.division

    @property
    def divided(self) -> bool:
        return self.division.strip("0") != ""

    @property
    def requires_product_divisions(self) -> bool:
        """Division '99': the divisions are in a Product Divisions structure (DS032) that must be scanned too."""
        return self.collection_type != "" and self.division == "99"

    @classmethod
    def from_content(cls, content: str) -> "ProductCode":
        if content[:1] in cls._NUMERIC_DIVISION:
            return cls(content[:5], "", content[5:])
        return cls(content[:5], content[5:6], content[6:])


@dataclass(frozen=True)
class ProductDivisions(DataStructure):
    """Product Divisions (DS032, ISBT-5) `=,dddddd`, required with a product code whose division is 99.

    Six digits are a single level (up to 999 999). Letter pairs AA–ZZ are up to three levels; that
    unused trailing levels are '00' is our reading, to be confirmed against IG-022.
    """

    divisions: str

    DI: ClassVar[str] = "=,"
    NAME: ClassVar[str] = "product divisions"
    LENGTH: ClassVar[int] = 6

    def __post_init__(self):
        _check_characters("The product divisions", self.divisions, [_ALNUM] * 6)
        if not self.divisions.isdigit() and not re.fullmatch(r"[A-Z]{2}([A-Z]{2}|00(?=(00)*$)){2}", self.divisions):
            raise Isbt128Error(f"The product divisions '{self.divisions}' must be six digits or pairs of capital "
                               "letters (AA–ZZ) for up to three levels.", reason="characters")

    @property
    def data_content(self) -> str:
        return self.divisions

    @classmethod
    def from_content(cls, content: str) -> "ProductDivisions":
        return cls(content)


@dataclass(frozen=True)
class ChainOfIdentity(DataStructure):
    """Chain of Identity Identifier (DS040, ISBT-6): `&/CHαppppyynnnnnn`, one per patient therapy.

    Its check character K is computed over the 15 data-content characters *including* 'CH'. ISBT-6
    marks this as presumed ("computed from the data content string"), to be confirmed in ST-028.
    """

    issuer: str  # FIN of the issuing organization: the site's configuration
    year: str
    sequence: str  # 6 characters A–Z, 0–9, issued in order by next_sequence

    DI: ClassVar[str] = "&/"
    NAME: ClassVar[str] = "chain of identity identifier"
    LENGTH: ClassVar[int] = 15
    PREFIX: ClassVar[str] = "CH"

    def __post_init__(self):
        _check_characters("The issuer's facility identification number", self.issuer, _FIN)
        _check_characters("The chain of identity year", self.year, [_DIGIT] * 2)
        _check_characters("The chain of identity sequence", self.sequence, [_ALNUM] * 6)

    @classmethod
    def build(cls, issuer: str, year, sequence: str) -> "ChainOfIdentity":
        return cls(issuer, _year(year), sequence)

    @property
    def data_content(self) -> str:
        return self.PREFIX + self.issuer + self.year + self.sequence

    @property
    def check_character(self) -> str:
        return check_character(self.data_content)

    def eye_readable(self) -> str:
        """As printed, e.g. 'CH G1234 26 00A1B2' (our grouping, like the DIN's); K is boxed apart."""
        return f"{self.PREFIX} {self.issuer} {self.year} {self.sequence}"

    @classmethod
    def from_content(cls, content: str) -> "ChainOfIdentity":
        _check_characters("The start of the chain of identity identifier", content[:2], [("C", "C"), ("H", "H")])
        return cls(content[2:7], content[7:9], content[9:15])


def next_sequence(previous: str) -> str:
    """The sequence after `previous` counting in base 36 over 0–9, A–Z ('00000Z' → '000010')."""
    _check_characters("The chain of identity sequence", previous, [_ALNUM] * 6)
    following = int(previous, 36) + 1
    if following >= 36 ** 6:
        raise Isbt128Error("All 2 176 782 336 chain of identity sequences of this issuer and year are used; "
                           "issue identifiers under the next year.", reason="length")
    digits = []
    for _ in range(6):
        following, value = divmod(following, 36)
        digits.append(_ALPHANUMERIC[value])
    return "".join(reversed(digits))


# --- Dates and times (ISBT-7) ---------------------------------------------------------------

def encode_date(day: date) -> str:
    """`cyyjjj`: century, year in century, day of the year 001–366."""
    century, year = divmod(day.year - CENTURY_BASE, 100)
    if not 0 <= century <= 9:
        raise Isbt128Error(f"{day.isoformat()} cannot be written as an ISBT 128 date "
                           f"(years {CENTURY_BASE}–{CENTURY_BASE + 999} only).", reason="date")
    return f"{century}{year:02d}{day.timetuple().tm_yday:03d}"


def encode_date_time(day: date, at: time | None = None) -> str:
    """`cyyjjjhhmm`; a time not given is written 2359 (end of the day), as ISBT-7 requires."""
    at = at or time(23, 59)
    return f"{encode_date(day)}{at.hour:02d}{at.minute:02d}"


def decode_date(text: str) -> date:
    _check_characters("The date", text, [_DIGIT] * 6)
    year = CENTURY_BASE + int(text[0]) * 100 + int(text[1:3])
    ordinal = int(text[3:6])
    first = date(year, 1, 1)
    if not 1 <= ordinal <= (date(year + 1, 1, 1) - first).days:
        raise Isbt128Error(f"The date {text} names day {ordinal} of {year}, which has no such day.", reason="date")
    return first + timedelta(days=ordinal - 1)


def decode_date_time(text: str) -> datetime:
    _check_characters("The date and time", text, [_DIGIT] * 10)
    hour, minute = int(text[6:8]), int(text[8:10])
    if hour > 23 or minute > 59:
        raise Isbt128Error(f"The date and time {text} has the time {text[6:8]}:{text[8:10]}, which does not exist "
                           "(00:00–23:59).", reason="date")
    return datetime.combine(decode_date(text[:6]), time(hour, minute))


@dataclass(frozen=True)
class _DateStructure(DataStructure):
    day: date

    LENGTH: ClassVar[int] = 6

    def __post_init__(self):
        if isinstance(self.day, datetime) or not isinstance(self.day, date):
            raise Isbt128Error(f"An ISBT 128 {self.NAME} is a day, not {self.day!r}.", reason="date")

    @property
    def data_content(self) -> str:
        return encode_date(self.day)

    @classmethod
    def from_content(cls, content: str):
        return cls(decode_date(content))


@dataclass(frozen=True)
class _DateTimeStructure(DataStructure):
    at: datetime  # local wall-clock time of the assigning facility, to the minute

    LENGTH: ClassVar[int] = 10

    def __post_init__(self):
        if self.at.tzinfo is not None or self.at.second or self.at.microsecond:
            raise Isbt128Error(f"An ISBT 128 {self.NAME} is a local time to the minute, not {self.at.isoformat()}.",
                               reason="date")

    @classmethod
    def end_of_day(cls, day: date):
        """The structure for a day whose time is not given (written 2359)."""
        return cls(datetime.combine(day, time(23, 59)))

    @property
    def data_content(self) -> str:
        return encode_date_time(self.at.date(), self.at.time())

    @classmethod
    def from_content(cls, content: str):
        return cls(decode_date_time(content))


class ExpiryDate(_DateStructure):
    """DS004 `=>cyyjjj`; cellular therapy labels use DS005 (date and time) instead."""

    DI = "=>"
    NAME = "expiration date"


class ExpiryDateTime(_DateTimeStructure):
    """DS005 `&>cyyjjjhhmm`, the expiry recommended for cellular therapy products."""

    DI = "&>"
    NAME = "expiration date and time"


class CollectionDate(_DateStructure):
    DI = "=*"
    NAME = "collection date"


class CollectionDateTime(_DateTimeStructure):
    DI = "&*"
    NAME = "collection date and time"


class ProductionDate(_DateStructure):
    DI = "=}"
    NAME = "production date"


class ProductionDateTime(_DateTimeStructure):
    DI = "&}"
    NAME = "production date and time"


@dataclass(frozen=True)
class CompoundMessage(DataStructure):
    """Compound Message (DS023, ISBT-8) `=+aabbb`: `count` structures follow with no separator.

    `sequence` '000' leaves their order open; any other value names an order in ICCBBA's RT017
    table, which the site configures (not shipped).
    """

    count: int
    sequence: str = "000"

    DI: ClassVar[str] = "=+"
    NAME: ClassVar[str] = "compound message"
    LENGTH: ClassVar[int] = 5

    def __post_init__(self):
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 1 <= self.count <= 99:
            raise Isbt128Error(f"A compound message carries 1 to 99 structures, not {self.count}.", reason="structure")
        _check_characters("The compound message sequence", self.sequence, [_DIGIT] * 3)

    @property
    def data_content(self) -> str:
        return f"{self.count:02d}{self.sequence}"

    @classmethod
    def from_content(cls, content: str) -> "CompoundMessage":
        _check_characters("The compound message", content, [_DIGIT] * 5)
        return cls(int(content[:2]), content[2:])


# --- Reading scanned or typed text (ISBT-1, ISBT-8) -------------------------------------------

# Recognised by their fixed data identifier; the DIN's second DI character is its own first character.
STRUCTURES: tuple[type[DataStructure], ...] = (
    ProductCode, ProductDivisions, ExpiryDate, ExpiryDateTime, CollectionDate, CollectionDateTime,
    ProductionDate, ProductionDateTime, CompoundMessage, ChainOfIdentity)
_BY_DI = {structure.DI: structure for structure in STRUCTURES}
_READS = ("a DIN, product code, product divisions, expiry, collection or production date, compound message "
          "or chain of identity identifier")


def _clean(scanned) -> str:
    # A keyboard-wedge scanner ends with CR/LF or Tab, and people type the eye-readable groups with
    # spaces; no ISBT 128 structure read here contains white space, so all of it is dropped.
    if not isinstance(scanned, str):
        raise Isbt128Error("Scan the barcode or type the identifier.", reason="length")
    text = "".join(scanned.split())
    if not text:
        raise Isbt128Error("Nothing was read: scan the barcode or type the identifier.", reason="length")
    return text


def _structure_at(text: str, start: int) -> type[DataStructure]:
    identifier = text[start:start + 2]
    if identifier[:1] not in "=&":
        raise Isbt128Error(f"'{identifier[:1]}' does not begin an ISBT 128 data structure (they begin with = or &). "
                           f"Scan {_READS}.", reason="data identifier")
    if identifier[:1] == "=" and identifier[1:].isalnum():
        if identifier[1] in _FIN_FIRST[0]:
            return Din
        raise Isbt128Error(f"'{identifier}' does not start a DIN: its first character must be {_FIN_FIRST[1]}, in "
                           "capitals. Scan the barcode again.", reason="characters")
    if identifier in _BY_DI:
        return _BY_DI[identifier]
    if identifier[:1] == "&" and identifier[1:].islower():
        raise Isbt128Error(f"'{identifier}' starts a national or local data structure, which this system does not "
                           f"read. Scan {_READS}.", reason="data identifier")
    raise Isbt128Error(f"'{identifier}' is not a data identifier this system reads. Scan {_READS}.",
                       reason="data identifier")


def _read(text: str, start: int) -> tuple[DataStructure, int]:
    """The structure that begins at `start`, and where the next one begins."""
    structure = _structure_at(text, start)
    begin = start + len(structure.DI)
    content = text[begin:begin + structure.LENGTH]
    if len(content) < structure.LENGTH:
        raise Isbt128Error(f"The {structure.NAME} read is {len(content)} characters long after '{structure.DI}'; "
                           f"it must be {structure.LENGTH}. Scan the barcode again.", reason="length")
    return structure.from_content(content), begin + structure.LENGTH


def _keyed(text: str) -> DataStructure:
    """An identifier typed from the eye-readable text, with its boxed check character K last."""
    # Told apart by length: a FIN may itself begin with 'CH'.
    chain = len(text) != 14 and text[:2].upper() == ChainOfIdentity.PREFIX
    name, length = ("chain of identity identifier", 15) if chain else ("DIN", 13)
    if len(text) != length + 1:
        raise Isbt128Error(f"A {name} typed by hand is its {length} characters followed by the boxed check "
                           f"character ({length + 1} in all); '{text}' has {len(text)}. Type it again from "
                           "the label, or scan the barcode.", reason="length")
    keyed = ChainOfIdentity.from_content(text[:length]) if chain else Din.from_content(text[:length] + "00")
    if text[-1] != check_character(text[:length]):
        _check_characters("The check character", text[-1], [(ALPHABET, "a capital letter, digit or *")])
        raise Isbt128Error(f"The check character '{text[-1]}' does not match {name} {keyed.eye_readable()}: a "
                           "character was typed or read wrongly. Type it again from the label.",
                           reason="check character")
    return keyed


def parse(scanned: str) -> DataStructure:
    """The one data structure a scan (or keyboard entry with its check character) carries.

    A DIN typed by hand gives flags '00': flags are not part of the DIN and are not printed.
    """
    text = _clean(scanned)
    if text[0].isalnum():
        return _keyed(text)
    structure, end = _read(text, 0)
    if end != len(text):
        raise Isbt128Error(f"After the {structure.NAME} the barcode holds {len(text) - end} more characters "
                           f"('{text[end:end + 20]}'): it is not a single {structure.NAME}. Scan only that "
                           "barcode.", reason="length")
    return structure


def _expect(structure: DataStructure, kind: type[DataStructure]) -> DataStructure:
    if not isinstance(structure, kind):
        raise Isbt128Error(f"This is a {structure.NAME}, not a {kind.NAME}: scan the {kind.NAME} barcode.",
                           reason="structure")
    return structure


def parse_din(text: str) -> Din:
    return _expect(parse(text), Din)


def parse_product_code(text: str) -> ProductCode:
    return _expect(parse(text), ProductCode)


def parse_chain_of_identity(text: str) -> ChainOfIdentity:
    return _expect(parse(text), ChainOfIdentity)


def parse_concatenated(text: str, *, sequences: Mapping[str, Sequence[str]] | None = None
                       ) -> tuple[DataStructure, ...]:
    """The structures one symbol carries: a compound message, or structures one after another.

    Each structure begins with its data identifier and has no separator (ISBT-8). A compound
    message's count is verified; when it names an order (not '000') the order is verified against
    `sequences` (its number → the data identifiers in order, from the site's licensed RT017 copy).
    The compound message itself is not returned, only the structures it carries.
    """
    text = _clean(text)
    structures, position = [], 0
    while position < len(text):
        structure, position = _read(text, position)
        if isinstance(structure, CompoundMessage) and structures:
            raise Isbt128Error("A compound message may only open a barcode's data, not appear inside it. "
                               "The label is misprinted: do not use it.", reason="structure")
        structures.append(structure)
    if not isinstance(structures[0], CompoundMessage):
        return tuple(structures)
    header, carried = structures[0], tuple(structures[1:])
    if len(carried) != header.count:
        raise Isbt128Error(f"The compound message announces {header.count} structures but carries {len(carried)}: "
                           "the barcode is incomplete or misprinted. Scan it again; if it is refused again, do not "
                           "use the label.", reason="structure")
    if header.sequence != "000":
        expected = (sequences or {}).get(header.sequence)
        if expected is None:
            raise Isbt128Error(f"The compound message names the structure order {header.sequence}, which is not "
                               "configured here. Ask the administrator to add it from the licensed ICCBBA table.",
                               reason="structure")
        if [type(structure).DI for structure in carried] != list(expected):
            raise Isbt128Error(f"The structures are not in the order {header.sequence} the compound message names: "
                               "the label is misprinted. Do not use it.", reason="structure")
    return carried
