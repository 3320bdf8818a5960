"""Environmental monitoring reports: the monthly report of the programme and the classification
report, each as a page and the same template as PDF. Each PDF issued is written to the audit
trail with its SHA-256, as certificates are."""

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from opencdmo.core import audit, clock
from opencdmo.core.access import require
from opencdmo.core.errors import RuleViolation
from opencdmo.core.pdf import render_pdf
from opencdmo.core.presentation import local_time
from opencdmo.core.signatures import with_validity
from opencdmo.facilities.models import Room

from . import charts, selectors
from .domain import programme
from .models import Excursion, Identification

# --- Monthly report ---

MONTHLY_TEMPLATE = "envmon/report_pdf.html"
REPORT_PERMISSION = "envmon.view"


def month_of(text: str) -> dt.date:
    """'2026-02' → the first day of that month; a RuleViolation saying what to type otherwise."""
    try:
        month = dt.datetime.strptime(str(text).strip()[:7], "%Y-%m").date()
    except ValueError:
        raise RuleViolation(f"Choose a month as YYYY-MM, e.g. 2026-02; not {str(text)[:20]!r}.") from None
    if month.year < 2000 or month > timezone.localdate(clock.now()):
        raise RuleViolation("Choose a month from 2000 up to the current month.")
    return month


def _month_window(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The site's month: from midnight site time on the 1st to midnight on the 1st of the next."""
    start = timezone.make_aware(dt.datetime(month.year, month.month, 1))
    following = timezone.make_aware(dt.datetime(month.year + month.month // 12, month.month % 12 + 1, 1))
    return start, following


def current_month() -> str:
    """This month at the site, as YYYY-MM."""
    return f"{timezone.localdate(clock.now()):%Y-%m}"


@dataclass
class RoomMonth:
    room: Room
    counts: list[dict]  # per sample type: label, unit, within, alert, action, total
    excursions: list[Excursion]
    organisms: list[dict]  # organism, cfu, samples
    charts: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(row["total"] for row in self.counts)


@dataclass
class MonthlyReport:
    month: dt.date
    start: dt.datetime
    end: dt.datetime
    rooms: list[RoomMonth]

    @property
    def window_text(self) -> str:
        """The month's bounds in site time with the zone, e.g. '2026-02-01 00:00:00 CET (UTC+01:00)'."""
        return f"from {local_time(self.start)} up to {local_time(self.end)}"


def monthly_report(month: dt.date, *, room: Room | None = None, with_charts: bool = True,
                   user=None) -> MonthlyReport:
    """Per room sampled in the month: the results by type and level, the excursions with their
    deviations and the batches `user` may see (the others counted, not named), the organisms
    identified and a trend chart per sample type."""
    start, end = _month_window(month)
    found = selectors.results().filter(collected_at__gte=start, collected_at__lt=end)
    rooms = [room] if room else list(Room.objects.filter(pk__in=found.values("room_id")).order_by("code"))
    counts: dict[tuple[int, str], dict] = {}
    for room_id, sample_type, level, n in (found.filter(room__in=rooms).values("room_id", "sample_type", "level")
                                           .order_by().annotate(n=Count("id"))
                                           .values_list("room_id", "sample_type", "level", "n")):
        row = counts.setdefault((room_id, sample_type), {"sample_type": sample_type, "total": 0,
                                                         **dict.fromkeys(programme.LEVELS, 0)})
        row[level or programme.WITHIN] += n
        row["total"] += n
    excursions = (Excursion.objects.filter(room__in=rooms, sample__collected_at__gte=start,
                                           sample__collected_at__lt=end)
                  .select_related("deviation", "location", "sample").prefetch_related("batches")
                  .order_by("sample__collected_at", "id"))
    excursions = selectors.with_batches_seen(user, excursions)
    organisms = (Identification.objects.filter(sample__room__in=rooms, sample__collected_at__gte=start,
                                               sample__collected_at__lt=end)
                 .values("sample__room_id", "organism").order_by("organism").annotate(samples=Count("sample", distinct=True)))
    report = MonthlyReport(month, start, end, [])
    for r in rooms:
        types = [t for t in programme.SAMPLE_TYPES if (r.pk, t) in counts]
        month_room = RoomMonth(
            r, [{"label": programme.SAMPLE_TYPES[t][0], "unit": programme.SAMPLE_TYPES[t][1], **counts[(r.pk, t)]}
                for t in types],
            [x for x in excursions if x.room_id == r.pk],
            [o for o in organisms if o["sample__room_id"] == r.pk])
        if with_charts:
            month_room.charts = [charts.trend_chart(selectors.room_trend(r, sample_type=t, start=start, end=end))
                                 for t in types]
        report.rooms.append(month_room)
    return report


def monthly_report_pdf(user, month: dt.date, *, room: Room | None = None, request=None) -> bytes:
    """The monthly report as PDF; its issue is audited with the SHA-256 of the file handed out."""
    require(user, REPORT_PERMISSION, to="issue the EM monthly report")
    report = monthly_report(month, room=room, user=user)
    now = clock.now()
    pdf = render_pdf(MONTHLY_TEMPLATE, {"report": report, "title": report_title(month, room),
                                        "generated_by": user.full_name, "generated_at": local_time(now)},
                     request=request)
    with transaction.atomic():
        audit.log_event(user, "export", record_type_name="envmon.monthlyreport", record_id=f"{month:%Y-%m}",
                        record_label=report_title(month, room), changes={"export": [None, {
                            "what": "EM monthly report", "format": "pdf", "month": f"{month:%Y-%m}",
                            "room": room.code if room else "all", "rooms": [r.room.code for r in report.rooms],
                            "sha256": hashlib.sha256(pdf).hexdigest()}]})
    return pdf


def report_title(month: dt.date, room: Room | None) -> str:
    return f"EM monthly report {month:%B %Y}" + (f", room {room.code}" if room else "")


def report_filename(month: dt.date, room: Room | None) -> str:
    return f"em-report-{month:%Y-%m}" + (f"-{room.code}" if room else "") + ".pdf"

# --- Classification report ---

CLASSIFICATION_TEMPLATE = "envmon/classification_pdf.html"
CLASSIFICATION_STANDARD = ("ISO 14644-1:2015: locations from Table A.1 by floor area; single sample volume "
                           "V_s = 20 / C_n,m × 1000 L (C_n,m: the class limit at the largest size considered), at "
                           "least 2 L; each location's mean at or below the class limit (Table 1).")


def _utc_stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def classification_pdf(classification, *, user, request=None) -> bytes:
    """The classification report as PDF: room, class, locations and volume with the standard's
    basis, the readings and each location's mean against the limit, the verdict, who performed it
    and the approval signatures (printed name, meaning, UTC and site time)."""
    require(user, "envmon.view", to="see room classification reports")
    if classification.status not in ("completed", "approved"):
        raise RuleViolation(f"{classification} is not completed yet: its report is issued once every location "
                            "has its readings and it is completed.")
    room = classification.room
    signed = [{"printed_name": s.printed_name, "meaning": s.meaning, "signed_at": local_time(s.signed_at),
               "signed_at_utc": _utc_stamp(s.signed_at), "valid": valid}
              for s, valid in with_validity(classification)]
    now = clock.now()
    context = {
        "title": f"Room classification {classification.number}", "c": classification, "room": room,
        "state": programme.STATES[classification.state], "standard": CLASSIFICATION_STANDARD,
        "sizes": selectors.classification_sizes(classification), "grid": selectors.classification_grid(classification),
        "verdict": "PASS" if classification.passed else "FAIL",
        "performed_at": local_time(classification.performed_at) if classification.performed_at else "",
        "signatures": signed, "generated_by": user.full_name, "generated_at": local_time(now),
        "generated_at_utc": _utc_stamp(now),
    }
    pdf = render_pdf(CLASSIFICATION_TEMPLATE, context, request=request)
    with transaction.atomic():
        audit.log_event(user, "export", record=classification, changes={"export": [None, {
            "what": "room classification report", "format": "pdf", "status": classification.status,
            "passed": classification.passed, "sha256": hashlib.sha256(pdf).hexdigest()}]})
    return pdf
