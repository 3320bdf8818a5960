"""Environmental monitoring pages. Thin: selectors read, services write."""

import datetime as dt
import uuid
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from opencdmo.core import clock, registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require, require_to_see
from opencdmo.core.errors import DomainError, NotFound, RuleViolation
from opencdmo.core.views import paginate, sort_headers
from opencdmo.facilities.models import Equipment, Grade, Room

from . import charts, conf, reports, selectors, services, workflows
from .domain import iso14644, limits, nelson, programme
from .domain.programme import FREQUENCIES, LEVELS, SAMPLE_TYPES, STATES
from .models import EmSample, Excursion, LevelSet, Location, Plan

# --- Rooms, locations, plans, worklist, samples, excursions ---

def _refused(request, template: str, context: dict, exc: DomainError):
    return render(request, template, {**context, "error": exc.message, "form": request.POST}, status=exc.status)


@login_required
def worklist(request):
    """The sampler's and reader's screen: what is due by room, plates to read, plates incubating.
    A scanned location code opens the collection form for that location."""
    require_to_see(request.user, "envmon.view")
    code = request.GET.get("scan", "").strip().upper()[:24]
    if code and Location.objects.filter(code=code, is_active=True).exists():
        return redirect(f"{reverse('envmon:collect')}?{urlencode({'location': code})}")
    due, hidden = selectors.due_samples_seen(request.user)
    rooms: dict = {room_: [] for room_ in hidden}
    for d in due:
        rooms.setdefault(d.room, []).append(d)
    return render(request, "envmon/worklist.html", {
        "rooms": [(room_, rows, selectors.BatchesSeen([], hidden.get(room_, 0))) for room_, rows in
                  sorted(rooms.items(), key=lambda item: item[0].code)],
        "to_read": selectors.plates_to_read(), "incubating": selectors.in_incubation(),
        "unknown": code})


SAMPLE_SORTS = {"collected_at", "-collected_at", "number", "-number", "value", "-value", "level", "-level"}


@login_required
def samples(request):
    require_to_see(request.user, "envmon.view")
    filters = {name: request.GET.get(name, "").strip()[:40]
               for name in ("room", "type", "level", "status", "from", "to")}
    dates = {}
    for name in ("from", "to"):
        try:
            dates[name] = dt.date.fromisoformat(filters[name]) if filters[name] else None
        except ValueError:
            raise RuleViolation(f"Enter the '{name}' date as YYYY-MM-DD.") from None
    sort = request.GET.get("sort", "-collected_at")
    rows = selectors.samples(room=filters["room"], sample_type=filters["type"], level=filters["level"],
                             status=filters["status"], date_from=dates["from"], date_to=dates["to"],
                             order=sort if sort in SAMPLE_SORTS else "-collected_at")
    page = paginate(request, rows)
    for s in page.object_list:
        s.status_label = workflows.sample_workflow.label(s.status)
    return render(request, "envmon/samples.html", {
        "page": page, "filters": filters, "types": SAMPLE_TYPES, "levels": LEVELS,
        "states": workflows.SAMPLE_STATES, "rooms": Room.objects.order_by("code"),
        "headers": sort_headers(request, [("Sample", "number"), ("Collected", "collected_at"), ("Result", "value"),
                                          ("Level", "level")], "-collected_at")})


def _sample_of(number) -> EmSample:
    sample = EmSample.objects.select_related("location", "room", "plan", "batch", "instrument").filter(
        number=number).first()
    if sample is None:
        raise NotFound(f"No EM sample {number}.")
    return sample


def _sample_context(user, sample) -> dict:
    sample.status_label = workflows.sample_workflow.label(sample.status)
    return {"sample": sample, "comparison_rule": limits.COMPARISONS.get((sample.limits or {}).get("comparison")),
            "batch_seen": selectors.batches_seen(user, [sample.batch]),
            "identifications": sample.identifications.select_related("identified_by"),
            "excursions": selectors.with_batches_seen(user, sample.excursions.select_related("deviation")),
            "incubation": conf.incubation(),
            "may_read": user.has_permission("envmon.read_plates"),
            "may_invalidate": workflows.sample_workflow.refusal(sample, "invalidate", user) is None}


@login_required
def sample(request, number):
    require_to_see(request.user, "envmon.view")
    return render(request, "envmon/sample.html", _sample_context(request.user, _sample_of(number)))


SAMPLE_ACTIONS = {
    "incubate": lambda user, s, post: services.start_incubation(user, s, temperature_c=post.get("temperature_c")),
    "second-incubation": lambda user, s, post: services.second_incubation(
        user, s, temperature_c=post.get("temperature_c")),
    "read": lambda user, s, post: services.read_plate(user, s, count=post.get("count"),
                                                      comment=post.get("comment", "")),
    "identify": lambda user, s, post: services.identify_organism(
        user, s, organism=post.get("organism", ""), method=post.get("method", ""), cfu=post.get("cfu")),
    "invalidate": lambda user, s, post: services.invalidate_sample(user, s, reason=post.get("reason", "")),
}


@login_required
@require_POST
def sample_action(request, number, action):
    """One step of a sample's life (incubate, read, identify, invalidate); a refusal shows the page again."""
    if action not in SAMPLE_ACTIONS:
        raise NotFound(f"No such step '{action[:40]}' for an EM sample.")
    em_sample = _sample_of(number)
    try:
        SAMPLE_ACTIONS[action](request.user, em_sample, request.POST)
    except DomainError as exc:
        return _refused(request, "envmon/sample.html", _sample_context(request.user, _sample_of(number)), exc)
    return redirect("envmon:sample", number=number)


def _collect_context(request, source) -> dict:
    code = source.get("location", "").strip().upper()
    location = Location.objects.select_related("room").filter(code=code, is_active=True).first() if code else None
    due = [d for d in selectors.due_samples_seen(request.user)[0]
           if location is not None and d.location.pk == location.pk]
    return {"location": location, "code": code, "due": due, "types": SAMPLE_TYPES, "room_states": STATES,
            "chosen": {name: source.get(name, "") for name in ("type", "state", "plan", "batch")},
            "instruments": Equipment.objects.filter(kind__in=("air_sampler", "particle_counter"))
            .order_by("number"), "submission_id": uuid.uuid4().hex}


@login_required
@require_http_methods(["GET", "POST"])
def collect(request):
    """Record a sample just taken. The form carries a fresh submission id: a second submit of the same
    form (a double tap, a retry) opens the sample it recorded instead of recording another."""
    require(request.user, "envmon.sample", to="collect environmental samples")
    if request.method == "GET":
        return render(request, "envmon/collect.html", _collect_context(request, request.GET))
    post = request.POST
    location = Location.objects.filter(code=post.get("location", "").strip().upper()).first()
    try:
        if location is None:
            raise RuleViolation("Scan or choose the sampling location.")
        em_sample = services.collect_sample(
            request.user, location=location, sample_type=post.get("type", ""), state=post.get("state", ""),
            plan=post.get("plan") or None, batch=post.get("batch", "").strip() or None,
            media_lot=post.get("media_lot", ""), exposure_minutes=post.get("exposure_minutes"),
            volume_litres=post.get("volume_litres"), instrument=post.get("instrument", "").strip() or None,
            count=post.get("count"), comment=post.get("comment", ""), submission_id=post.get("submission_id", ""))
    except DomainError as exc:
        return _refused(request, "envmon/collect.html", _collect_context(request, post), exc)
    return redirect("envmon:sample", number=em_sample.number)


@login_required
def excursions(request):
    require_to_see(request.user, "envmon.view")
    filters = {name: request.GET.get(name, "").strip()[:40] for name in ("status", "kind", "room")}
    page = paginate(request, selectors.excursions(**filters))
    page.object_list = selectors.with_batches_seen(request.user, page.object_list)
    for e in page.object_list:
        e.status_label = workflows.excursion_workflow.label(e.status)
    return render(request, "envmon/excursions.html", {
        "page": page, "filters": filters, "kinds": Excursion.Kind.choices, "states": workflows.EXCURSION_STATES,
        "rooms": Room.objects.order_by("code")})


def _excursion_context(user, number) -> dict:
    excursion = Excursion.objects.select_related("sample", "room", "location", "deviation", "acknowledged_by").filter(
        number=number).first()
    if excursion is None:
        raise NotFound(f"No EM excursion {number}.")
    excursion.status_label = workflows.excursion_workflow.label(excursion.status)
    return {"excursion": excursion, "batches": selectors.batches_seen(user, excursion.batches.order_by("started_at")),
            "refusal": workflows.excursion_workflow.refusal(excursion, "acknowledge", user)}


@login_required
def excursion(request, number):
    require_to_see(request.user, "envmon.view")
    return render(request, "envmon/excursion.html", _excursion_context(request.user, number))


@login_required
@require_POST
def excursion_acknowledge(request, number):
    context = _excursion_context(request.user, number)
    try:
        services.acknowledge_excursion(request.user, context["excursion"], assessment=request.POST.get("assessment"))
    except DomainError as exc:
        return _refused(request, "envmon/excursion.html", _excursion_context(request.user, number), exc)
    return redirect("envmon:excursion", number=number)


def _room_of(code) -> Room:
    room = Room.objects.filter(code=code).first()
    if room is None:
        raise NotFound(f"No room {code}.")
    return room


def _programme_context(user, room) -> dict:
    locations = list(Location.objects.filter(room=room).order_by("-is_active", "code"))
    # the preview is 100 wide and as long as the room is for its width (x, y are percent of each)
    height = (room.length_m / room.width_m * 100) if room.width_m and room.length_m else Decimal(60)
    for location in locations:
        location.cy = location.y * height / 100
    return {"room": room, "locations": locations, "height": height, "types": SAMPLE_TYPES,
            "frequencies": FREQUENCIES, "room_states": STATES,
            "plans": Plan.objects.filter(location__room=room).select_related("location")
            .order_by("-is_active", "location__code", "sample_type"),
            "may_manage": user.has_permission("envmon.manage_programme")}


@login_required
def room_programme(request, room):
    require_to_see(request.user, "envmon.view")
    return render(request, "envmon/programme.html", _programme_context(request.user, _room_of(room)))


def _location_of(room, post) -> Location:
    location = Location.objects.filter(room=room, code=post.get("location", "").strip().upper()).first()
    if location is None:
        raise NotFound("No such location in this room.")
    return location


def _plan_of(room, post) -> Plan:
    plan = Plan.objects.filter(location__room=room, pk=post.get("plan", "") if str(
        post.get("plan", "")).isdigit() else None).first()
    if plan is None:
        raise NotFound("No such plan in this room.")
    return plan


PROGRAMME_ACTIONS = {
    "floor_plan": lambda user, room, post: services.set_floor_plan(
        user, room, width_m=post.get("width_m"), length_m=post.get("length_m"), reason=post.get("reason", "")),
    "location": lambda user, room, post: services.create_location(
        user, room, code=post.get("code", ""), name=post.get("name", ""), x=post.get("x"), y=post.get("y"),
        sample_types=post.getlist("sample_types")),
    "retire_location": lambda user, room, post: services.retire_location(
        user, _location_of(room, post), reason=post.get("reason", "")),
    "plan": lambda user, room, post: services.create_plan(
        user, _location_of(room, post), sample_type=post.get("sample_type", ""),
        frequency=post.get("frequency", ""), state=post.get("state", "")),
    "retire_plan": lambda user, room, post: services.retire_plan(
        user, _plan_of(room, post), reason=post.get("reason", "")),
}


@login_required
@require_POST
def programme_action(request, room, action):
    """A change to a room's programme: floor plan, a location or a plan added or retired."""
    if action not in PROGRAMME_ACTIONS:
        raise NotFound(f"No such change '{action[:40]}' to a room's programme.")
    the_room = _room_of(room)
    try:
        PROGRAMME_ACTIONS[action](request.user, the_room, request.POST)
    except DomainError as exc:
        return _refused(request, "envmon/programme.html", _programme_context(request.user, _room_of(room)), exc)
    return redirect("envmon:room_programme", room=room)


# --- Trends, heat map, monthly report, batch summary ---

TREND_CHOICES = [(key, label) for key, (label, _) in selectors.TREND_WINDOWS.items()] + [("custom", "Custom")]


def _date(text: str, what: str) -> dt.datetime | None:
    return selectors.parse_moment(text, f"the {what}")


def trend_filters(query) -> tuple[dict, dt.datetime | None, dt.datetime | None]:
    """The window the page asks for: 30 d, 90 d (default), 1 y, or custom dates (the end day included)."""
    filters = {"window": query.get("window", "90d"), "start": query.get("start", "")[:10], "end": query.get("end", "")[:10]}
    if filters["window"] == "custom":
        start, end = _date(filters["start"], "start date"), _date(filters["end"], "end date")
        return filters, start, end + dt.timedelta(days=1) if end else None
    days = selectors.TREND_WINDOWS.get(filters["window"], selectors.TREND_WINDOWS["90d"])[1]
    return filters, clock.now() - dt.timedelta(days=days), None


@login_required
def rooms(request):
    require_to_see(request.user, "envmon.view")
    sort = request.GET.get("sort", "code")
    return render(request, "envmon/rooms.html", {
        "rows": selectors.rooms_overview(sort=sort), "sort_headers": sort_headers(request, selectors.ROOM_COLUMNS, "code")})


@login_required
def room(request, code):
    require_to_see(request.user, "envmon.view")
    room_ = selectors.room(code)
    planned = [t for t in programme.SAMPLE_TYPES
               if any(t in loc.sample_types for loc in room_.em_locations.filter(is_active=True))]
    sample_type = request.GET.get("sample_type") or (planned or list(programme.SAMPLE_TYPES))[0]
    filters, start, end = trend_filters(request.GET)
    trend = selectors.room_trend(room_, sample_type=sample_type, start=start, end=end)
    return render(request, "envmon/room.html", {
        "room": room_, "plan": selectors.floor_plan(room_), "sample_type": sample_type,
        "sample_types": [(t, programme.SAMPLE_TYPES[t][0]) for t in planned or programme.SAMPLE_TYPES],
        "trend": trend, "chart": charts.trend_chart(trend), "filters": filters, "windows": TREND_CHOICES,
        "latest": selectors.latest_results(room_, sample_type=sample_type), "levels": programme.LEVELS,
    })


@login_required
def location(request, code):
    require_to_see(request.user, "envmon.view")
    location_ = selectors.location(code)
    filters, start, end = trend_filters(request.GET)
    found = selectors.location_control_charts(location_, start=start, end=end)
    return render(request, "envmon/location.html", {
        "location": location_, "filters": filters, "windows": TREND_CHOICES, "rules": nelson.RULES,
        "charts": [{"chart": c, "svg": charts.control_chart(c)} for c in found],
    })


def _report_choice(request):
    month = reports.month_of(request.GET.get("month") or reports.current_month())
    code = request.GET.get("room", "").strip()
    return month, selectors.room(code) if code else None


@login_required
def report(request):
    require_to_see(request.user, reports.REPORT_PERMISSION)
    month, room_ = _report_choice(request)
    report_ = reports.monthly_report(month, room=room_, user=request.user)
    return render(request, "envmon/report.html", {
        "report": report_, "title": reports.report_title(month, room_), "month": f"{month:%Y-%m}",
        "room_code": room_.code if room_ else "", "rooms": Room.objects.exclude(grade=Grade.UNCLASSIFIED)})


@login_required
def report_pdf(request):
    require_to_see(request.user, reports.REPORT_PERMISSION)
    month, room_ = _report_choice(request)
    pdf = reports.monthly_report_pdf(request.user, month, room=room_, request=request)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{reports.report_filename(month, room_)}"'
    return response


@login_required
def batch_summary(request, number):
    batch = selectors.batch_by_number(request.user, number)
    summary = selectors.batch_em_summary(batch)
    return render(request, "envmon/batch_summary.html", {"summary": summary, "unread": _unread_samples(summary)})


def _unread_samples(summary) -> list[EmSample]:
    """The samples of the batch's window not read yet, to follow them up."""
    if summary.start is None:
        return []
    return list(EmSample.objects.filter(Q(room=summary.room) | Q(room__within=summary.room),
                                        collected_at__gte=summary.start, collected_at__lte=summary.end,
                                        value__isnull=True)
                .exclude(status__in=selectors.NOT_COUNTED).select_related("location").order_by("collected_at"))


# --- Alert and action levels, classification ---

LEVEL_FORM_FIELDS = ("grade", "room", "sample_type", "state", "method", "alert", "action", "percentile",
                     "action_percentile", "alert_k", "action_k", "history_from", "history_to", "rationale")
LEVEL_FORM_DEFAULTS = {"method": "percentile", "percentile": "95", "action_percentile": "99", "alert_k": "2",
                       "action_k": "3", "state": "in_operation"}


CLASSIFICATION_SIZE_CHOICES = ("0.5", "5")  # the sizes Annex 1 classifies grades A to D at (A1-4)


def _level_choices() -> dict:
    return {"grades": selectors.LEVEL_GRADES, "sample_types": programme.choices(SAMPLE_TYPES),
            "states": STATES, "methods": LevelSet.Method.choices,
            "graded_rooms": Room.objects.filter(grade__in=selectors.LEVEL_GRADES).order_by("code")}


@login_required
def levels(request):
    """The levels matrix: Annex 1 maximum, the site's levels in force and the sets awaiting signatures."""
    require_to_see(request.user, "envmon.view")
    filters = {name: request.GET.get(name, "").strip()[:16] for name in ("grade", "sample_type", "state")}
    return render(request, "envmon/levels.html", {
        "rows": selectors.level_matrix(**filters), "filters": filters, "edition": conf.annex1_edition(),
        "comparison": limits.COMPARISONS[conf.limit_comparison()], **_level_choices()})


def _level_args(post) -> dict:
    values = {name: post.get(name, "") for name in LEVEL_FORM_FIELDS}
    values["room"] = values["room"] or None
    return values


@login_required
@require_http_methods(["GET", "POST"])
def level_new(request):
    """Propose levels: by hand, or computed from history with a Preview before saving."""
    require_to_see(request.user, "envmon.manage_programme")
    form, error, status, preview = LEVEL_FORM_DEFAULTS | request.GET.dict(), "", 200, None
    if request.method == "POST":
        form = request.POST
        try:
            args = _level_args(request.POST)
            # Levels set by hand have nothing to preview: the button (or Enter) saves them.
            if request.POST.get("preview") and request.POST.get("method") != LevelSet.Method.MANUAL:
                args.pop("alert"), args.pop("action"), args.pop("rationale")
                preview = selectors.preview_levels(**args)
            else:
                level_set = services.propose_levels(request.user, **args)
                return redirect("envmon:level", number=level_set.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "envmon/level_form.html", {"form": form, "error": error, "preview": preview,
                                                      **_level_choices()}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def level_edit(request, number):
    require_to_see(request.user, "envmon.manage_programme")
    level_set = selectors.level_set(request.user, number)
    error, status = "", 200
    if request.method == "POST":
        changes = {"rationale": request.POST.get("rationale", "")}
        if level_set.method == LevelSet.Method.MANUAL:
            changes |= {"alert_level": request.POST.get("alert", ""), "action_level": request.POST.get("action", "")}
        try:
            services.update_level_set(request.user, level_set, **changes)
            return redirect("envmon:level", number=level_set.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "envmon/level_edit.html", {
        "record": level_set, "form": request.POST or {"alert": level_set.alert_level, "action": level_set.action_level,
                                                       "rationale": level_set.rationale},
        "error": error}, status=status)


@login_required
def level(request, number):
    require_to_see(request.user, "envmon.view")
    level_set = selectors.level_set(request.user, number)
    workflow = workflows.level_set_workflow
    transitions, blocked = workflow.actions(level_set, request.user)
    annex1 = limits.annex1_limit(level_set.grade, level_set.sample_type, level_set.state,
                                 edition=conf.annex1_edition())
    return render(request, "envmon/level.html", {
        "record": level_set, "reference": level_set.number, "kind": registry.kind("envmon.levelset"),
        "workflow": workflow, "status_label": workflow.label(level_set.status), "transitions": transitions,
        "blocked": blocked, "signatures": core_selectors.record_signatures(request.user, level_set),
        "annex1": annex1, "scope": selectors.level_scope_text(level_set),
        "unit": SAMPLE_TYPES[level_set.sample_type][1], "method_text": selectors.level_method_text(level_set),
        "may_edit": (level_set.status == "draft" and level_set.created_by_id == request.user.pk
                     and request.user.has_permission("envmon.manage_programme"))})


@login_required
def annex1(request):
    """Annex 1's tables as this site applies them, for an inspector: classification (A1-1),
    monitoring (A1-2) and viable (A1-3) limits, the edition in force and the comparison rule."""
    require_to_see(request.user, "envmon.view")
    edition = conf.annex1_edition()
    grades = selectors.LEVEL_GRADES

    def particle_rows(purpose):
        return [(g, [limits.annex1_limit(g, t, s, edition=edition, purpose=purpose)
                     for s in ("at_rest", "in_operation") for t in ("particles_0_5", "particles_5")]) for g in grades]

    viable = ("active_air", "settle_plate", "contact_plate", "glove_print")
    return render(request, "envmon/annex1.html", {
        "edition": limits.EDITIONS[edition], "comparison": limits.COMPARISONS[conf.limit_comparison()],
        "classification": particle_rows(limits.CLASSIFICATION), "monitoring": particle_rows(limits.MONITORING),
        "viable_types": [SAMPLE_TYPES[t] for t in viable],
        "viable": [(g, [limits.annex1_limit(g, t, "in_operation", edition=edition) for t in viable]) for g in grades],
        "iso_classes": [(g, iso14644.iso_class_for(g, "at_rest"), iso14644.iso_class_for(g, "in_operation"))
                        for g in grades]})


@login_required
def classifications(request):
    require_to_see(request.user, "envmon.view")
    filters = {name: request.GET.get(name, "").strip()[:16] for name in ("room", "status", "state")}
    page = paginate(request, selectors.classifications(**filters))
    for c in page.object_list:
        c.status_label = workflows.classification_workflow.label(c.status)
    return render(request, "envmon/classifications.html", {
        "page": page, "filters": filters, "states": STATES, "statuses": workflows.CLASSIFICATION_STATES,
        "due": selectors.classifications_due(within_days=selectors.CLASSIFICATION_DUE_SOON_DAYS)})


@login_required
@require_http_methods(["GET", "POST"])
def classification_new(request):
    require_to_see(request.user, "envmon.manage_programme")
    form, error, status = request.GET.dict(), "", 200
    sizes = request.POST.getlist("sizes")[:len(CLASSIFICATION_SIZE_CHOICES)]
    if request.method == "POST":
        form = request.POST
        try:
            c = services.plan_classification(
                request.user, form.get("room", ""), state=form.get("state", ""),
                iso_class=form.get("iso_class", "").strip() or None, sizes=sizes or None,
                instrument=form.get("instrument", "").strip() or None)
            return redirect("envmon:classification", number=c.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "envmon/classification_form.html", {
        "form": form, "error": error, "states": STATES, "size_choices": CLASSIFICATION_SIZE_CHOICES,
        "chosen_sizes": sizes,
        "rooms": Room.objects.filter(grade__in=selectors.CLASSIFICATION_INTERVAL_MONTHS).order_by("code"),
        "counters": Equipment.objects.filter(kind=Equipment.Kind.PARTICLE_COUNTER).order_by("number")},
        status=status)


def _classification_context(user, c, **extra) -> dict:
    workflow = workflows.classification_workflow
    transitions, blocked = workflow.actions(c, user)
    return {"record": c, "reference": c.number, "kind": registry.kind("envmon.classification"),
            "workflow": workflow, "status_label": workflow.label(c.status), "transitions": transitions,
            "blocked": blocked, "signatures": core_selectors.record_signatures(user, c),
            "grid": selectors.classification_grid(c), "sizes": selectors.classification_sizes(c),
            "state_label": STATES[c.state], "may_read": c.status == "draft" and user.has_permission("envmon.sample"),
            "points": range(1, c.location_count + 1), **extra}


@login_required
def classification(request, number):
    require_to_see(request.user, "envmon.view")
    c = selectors.classification(request.user, number)
    return render(request, "envmon/classification.html", _classification_context(request.user, c))


@login_required
@require_POST
def classification_reading(request, number):
    """A reading from the entry grid; the page again with the error and what was typed when refused."""
    require(request.user, "envmon.sample", to="record readings")
    c = selectors.classification(request.user, number)
    post = request.POST
    try:
        services.record_reading(request.user, c, point=post.get("point", ""), size=post.get("size", ""),
                                volume_litres=post.get("volume_litres", ""), count=post.get("count", ""))
    except DomainError as exc:
        return render(request, "envmon/classification.html", _classification_context(
            request.user, c, error=exc.message, form=post), status=exc.status)
    return redirect(reverse("envmon:classification", args=[c.number]) + f"?point={post.get('point', '')}")


@login_required
def classification_pdf(request, number):
    require_to_see(request.user, "envmon.view")
    c = selectors.classification(request.user, number)
    pdf = reports.classification_pdf(c, user=request.user, request=request)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="classification-{c.number}.pdf"'
    return response
