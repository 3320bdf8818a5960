"""Human-readable record numbers: PREFIX-YEAR-0001, gap-free, restarting every year."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from opencdmo.core.models import NumberSequence
from opencdmo.core.numbering import next_number
from tests.factories import draft_agreement


def issue(prefix: str) -> str:
    with transaction.atomic():
        return next_number(prefix)


@pytest.mark.django_db
@pytest.mark.req("DI-2")
def test_numbers_count_up_per_prefix(fake_clock):
    assert [issue("DEV") for _ in range(3)] == ["DEV-2026-0001", "DEV-2026-0002", "DEV-2026-0003"]
    assert issue("CAPA") == "CAPA-2026-0001"
    assert issue("DEV") == "DEV-2026-0004"


@pytest.mark.django_db
@pytest.mark.req("DI-2")
def test_numbering_restarts_each_year(fake_clock):
    fake_clock.set(dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
    assert [issue("DEV"), issue("DEV")] == ["DEV-2025-0001", "DEV-2025-0002"]
    fake_clock.set(dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC))
    assert [issue("DEV"), issue("DEV")] == ["DEV-2026-0001", "DEV-2026-0002"]


@pytest.mark.django_db
@pytest.mark.req("DI-2")
def test_numbers_beyond_four_digits_keep_counting(fake_clock):
    NumberSequence.objects.create(prefix="SMP", year=2026, last_value=9999)
    assert issue("SMP") == "SMP-2026-10000"


@pytest.mark.django_db
@pytest.mark.req("DI-2")
def test_a_rolled_back_number_is_given_again(fake_clock):
    with pytest.raises(LookupError), transaction.atomic():
        assert next_number("DEV") == "DEV-2026-0001"
        raise LookupError("the record could not be created")
    assert issue("DEV") == "DEV-2026-0001"


@pytest.mark.req("DI-2")
def test_a_failed_creation_gives_its_number_back(qa_author, sponsor_a, fake_clock):
    first = draft_agreement(qa_author, sponsor_a)
    assert first.number == "QAG-2026-0001"
    with pytest.raises(ValidationError):  # the number is issued, then the record is refused
        draft_agreement(qa_author, sponsor_a, title="T" * 201)
    assert draft_agreement(qa_author, sponsor_a).number == "QAG-2026-0002"


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("DI-2")
def test_numbers_are_issued_only_inside_the_creating_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        next_number("DEV")
