"""Is this the right material? The check at every handoff of a patient's material.

A scan (one barcode, several read one after another, or an identifier typed from the label) is
compared with what the handoff expects: the patient's chain of identity identifier and, when a
particular container is expected, its DIN and product code (division included). Anything that
names another patient or container is a mismatch: the handoff is refused. A scan that carries
neither a chain of identity identifier nor a DIN proves nothing and is refused as unreadable.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from .isbt128 import ChainOfIdentity, DataStructure, Din, Isbt128Error, ProductCode, parse, parse_concatenated


@dataclass(frozen=True)
class Expected:
    """What the handoff expects. `din` and `product_code` are empty when any container of the
    patient will do (a shipper, a therapy as a whole)."""

    coi: str  # the 15-character data content
    din: str = ""  # the 13-character DIN
    product_code: str = ""  # the 8-character data content, division included


@dataclass(frozen=True)
class Verification:
    matched: bool
    problems: tuple[str, ...]
    read: tuple[DataStructure, ...]


def read_scans(scans: str | Iterable[str]) -> tuple[DataStructure, ...]:
    """Every structure in what was scanned or typed: each entry is one barcode (a single structure,
    several one after another, or a compound message) or an identifier keyed with its check
    character. Raises Isbt128Error with what to do when an entry cannot be read."""
    entries = [scans] if isinstance(scans, str) else list(scans)
    entries = [entry for entry in entries if isinstance(entry, str) and entry.strip()]
    if not entries:
        raise Isbt128Error("Nothing was read: scan the label's barcode or type its identifier.", reason="length")
    read: list[DataStructure] = []
    for entry in entries:
        text = "".join(entry.split())
        read.extend((parse(text),) if text[0].isalnum() else parse_concatenated(text))
    return tuple(read)


def _printed_coi(content: str) -> str:
    return ChainOfIdentity.from_content(content).eye_readable()


def verify(expected: Expected, read: tuple[DataStructure, ...]) -> Verification:
    chains = [s for s in read if isinstance(s, ChainOfIdentity)]
    dins = [s for s in read if isinstance(s, Din)]
    codes = [s for s in read if isinstance(s, ProductCode)]
    if expected.din and not dins:
        raise Isbt128Error("Scan the container's DIN (or its Data Matrix): the container must be identified, not "
                           "only the patient.", reason="structure")
    if not chains and not dins:
        raise Isbt128Error("The scan carries neither a chain of identity identifier nor a DIN: scan the label's "
                           "Data Matrix or its chain of identity barcode.", reason="structure")
    problems = [f"Chain of identity {c.eye_readable()} is another patient's: this therapy is "
                f"{_printed_coi(expected.coi)}." for c in chains if c.data_content != expected.coi]
    if expected.din:
        expected_din = Din.from_content(expected.din + "00").eye_readable()
        problems += [f"DIN {d.eye_readable()} is another container's: expected {expected_din}."
                     for d in dins if d.din13 != expected.din]
    if expected.product_code:
        problems += [f"Product code {p.data_content} is another container's: expected {expected.product_code}."
                     for p in codes if p.data_content != expected.product_code]
    return Verification(matched=not problems, problems=tuple(problems), read=read)
