"""Pages of the quality app. Thin: parse input, call a service or selector, render."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from opencdmo.core import registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require_to_see

from . import selectors
from .models import Deviation


@login_required
def deviation_list(request):
    require_to_see(request.user, "quality.raise_deviation")
    status = request.GET.get("status", "")
    return render(request, "quality/deviations.html", {
        "deviations": selectors.deviations_for(request.user, status=status or None),
        "sources": Deviation.Source.choices, "status": status,
    })


@login_required
def deviation_detail(request, number):
    require_to_see(request.user, "quality.raise_deviation")
    deviation = selectors.deviation(request.user, number)
    return render(request, "quality/deviation_detail.html", {
        "record": deviation, "reference": deviation.number, "kind": registry.kind("quality.deviation"),
        "links": deviation.links.all(), "signatures": core_selectors.record_signatures(request.user, deviation),
    })
