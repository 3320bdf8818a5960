"""`opencdmo seed-demo`: a small but real CDMO, built only through the services, so its audit
trail and signatures are exactly what the application would have written."""

import contextlib

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from opencdmo.batches import demo as batches_demo
from opencdmo.core import clock, context, security, services
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import DomainError
from opencdmo.core.models import User
from opencdmo.core.signatures import SignatureInput
from opencdmo.documents import demo as documents_demo
from opencdmo.envmon import demo as envmon_demo
from opencdmo.facilities import demo as facilities_demo
from opencdmo.identity import demo as identity_demo
from opencdmo.materials import demo as materials_demo
from opencdmo.processes import demo as processes_demo
from opencdmo.qc import demo as qc_demo
from opencdmo.quality import demo as quality_demo
from opencdmo.release import demo as release_demo
from opencdmo.sponsors import services as sponsor_services
from opencdmo.training import demo as training_demo

DEMO_PASSWORD = "OpenCDMO-demo-2026"

# (user ID, printed name, roles, sponsor codes or "all")
DEMO_USERS = [
    ("admin", "Alex Morgan", [Role.SYSTEM_ADMIN], "all"),
    ("qa.patel", "Priya Patel", [Role.QA_SPECIALIST], "all"),
    ("qp.dubois", "Claire Dubois", [Role.QA_APPROVER], "all"),
    ("op.olsen", "Erik Olsen", [Role.OPERATOR], "all"),
    ("op.garcia", "Lucia Garcia", [Role.OPERATOR], "all"),
    ("sup.santos", "Rafael Santos", [Role.SUPERVISOR], "all"),
    ("mh.mueller", "Jonas Müller", [Role.MATERIAL_HANDLER], "all"),
    ("qc.chen", "Wei Chen", [Role.QC_ANALYST], "all"),
    ("qcr.ross", "Hannah Ross", [Role.QC_REVIEWER], "all"),
    ("plan.kim", "Min-jun Kim", [Role.PLANNER], "all"),
    ("pd.novak", "Petra Novak", [Role.PD_SCIENTIST], "all"),
    ("helix.quality", "Dana Whitfield", [Role.SPONSOR_VIEWER], ["HELIX"]),
    ("nordvector.quality", "Sven Lindqvist", [Role.SPONSOR_VIEWER], ["NORDV"]),
    ("op.locked", "Tom Becker", [Role.OPERATOR], "all"),
]

SPONSORS = [
    ("HELIX", "Helix Cell Therapeutics", [
        ("HLX-CD19", "CD19 CAR-T for relapsed/refractory B-cell lymphoma",
         [("HLX-101", "Autologous anti-CD19 CAR-T cells", "autologous_cell", "phase_2")]),
    ]),
    ("NORDV", "Nordvector Gene Therapies", [
        ("NVG-SMN1", "AAV9-SMN1 gene therapy for spinal muscular atrophy",
         [("NVG-201", "AAV9-SMN1 drug substance", "aav_vector", "phase_1")]),
    ]),
    ("STROMA", "Stroma Regenerative", [
        ("STR-MSC", "Allogeneic bone-marrow MSC for GvHD",
         [("STR-301", "Allogeneic MSC, cryopreserved", "allogeneic_cell", "phase_2")]),
    ]),
]


def print_logins(out, bind: str = "127.0.0.1:8000") -> None:
    out.write(f"\nDemo logins (password for all: {DEMO_PASSWORD})\n")
    for username, name, roles, _ in DEMO_USERS:
        note = "  (locked out after 5 failed logins: unlock it as admin)" if username == "op.locked" else ""
        out.write(f"  {username:<20} {name:<18} {', '.join(r.label for r in roles)}{note}\n")
    out.write(f"\nOpen http://{bind}/ and sign in.\n")


def _sig(username, meaning, comment=""):
    return SignatureInput(meaning=meaning, password=DEMO_PASSWORD, username=username, comment=comment)


class Command(BaseCommand):
    help = "Load the demo CDMO into an empty database."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000", help="where the demo will be served")

    def handle(self, *args, bind, **options):
        if User.objects.exists():
            raise CommandError("The database is not empty; the demo is only loaded into a new database.")
        with context.action(client_address="seed-demo"):
            try:
                summary = self._seed()
            except DomainError as exc:
                raise CommandError(f"Demo data refused: {exc.message}") from None
        print_summary(self.stdout, summary)
        print_logins(self.stdout, bind)

    def _seed(self):
        with transaction.atomic():
            admin = services.create_user(None, username="admin", full_name="Alex Morgan", password=DEMO_PASSWORD,
                                         roles=[Role.SYSTEM_ADMIN], reason="first administrator (demo)")
            sponsors = {}
            for code, name, programs in SPONSORS:
                sponsor = sponsor_services.create_sponsor(admin, code=code, name=name)
                sponsors[code] = sponsor
                for p_code, p_name, products in programs:
                    program = sponsor_services.create_program(admin, sponsor=sponsor, code=p_code, name=p_name)
                    for c, n, modality, phase in products:
                        sponsor_services.create_product(admin, program=program, code=c, name=n,
                                                        modality=modality, phase=phase)
            users = {"admin": admin}
            for username, name, roles, access in DEMO_USERS[1:]:
                ids = [s.pk for s in sponsors.values()] if access == "all" else [sponsors[c].pk for c in access]
                users[username] = services.create_user(
                    admin, username=username, full_name=name, password=DEMO_PASSWORD,
                    email=f"{username}@demo.opencdmo.org", roles=roles, sponsor_ids=ids, reason="demo staff",
                    must_change_password=False)
        qa, qp = users["qa.patel"], users["qp.dubois"]
        helix = sponsor_services.draft_quality_agreement(
            qa, sponsor=sponsors["HELIX"], title="Quality agreement HLX-101 clinical supply",
            deviation_notification_days=2,
            terms="CDMO manufactures and QA-releases HLX-101 per the approved batch record. Changes affecting "
                  "the product need Helix's prior approval. Critical deviations are notified within 24 h.")
        sponsor_services.transition_quality_agreement(qa, helix, "submit", signature=_sig("qa.patel", "Authored"))
        sponsor_services.transition_quality_agreement(qp, helix, "approve",
                                                      signature=_sig("qp.dubois", "Approved", "Reviewed with Helix QA"))
        nord = sponsor_services.draft_quality_agreement(
            qa, sponsor=sponsors["NORDV"], title="Quality agreement NVG-201 phase 1 supply",
            deviation_notification_days=5, terms="AAV9 drug substance; sponsor approves changes to the process.")
        sponsor_services.transition_quality_agreement(qa, nord, "submit", signature=_sig("qa.patel", "Authored"))
        sponsor_services.draft_quality_agreement(
            qa, sponsor=sponsors["STROMA"], title="Quality agreement STR-301 (draft)",
            sponsor_approval_for_changes=False, terms="Under negotiation.")
        facilities_demo.seed(users, sponsors, password=DEMO_PASSWORD)
        materials_demo.seed(users, sponsors)
        quality_demo.seed(users, sponsors, password=DEMO_PASSWORD)
        quality_demo.seed_changes_and_risk(users, sponsors, password=DEMO_PASSWORD)
        documents_demo.seed(users, sponsors, password=DEMO_PASSWORD)
        training_demo.seed(users, sponsors, password=DEMO_PASSWORD)
        documents_demo.seed_revisions(users, password=DEMO_PASSWORD)
        training_demo.seed_recent(users, password=DEMO_PASSWORD)
        processes_demo.seed(users, sponsors, password=DEMO_PASSWORD)
        orders = identity_demo.seed(users, sponsors, password=DEMO_PASSWORD)
        # The laboratory's methods and approved specifications come before the batches: a batch's
        # sampling points register QC samples against the product's effective release specification.
        with clock.days_ago(clock.now(), 400):
            qc_demo.seed_methods_and_specifications(users, sponsors, password=DEMO_PASSWORD)
        batches_demo.seed(users, sponsors, password=DEMO_PASSWORD, patients=[order.coi for order in orders])
        car_t, aav = release_demo.batches_on_test()
        laboratory = qc_demo.seed_laboratory(users, sponsors, password=DEMO_PASSWORD, car_t=car_t, aav=aav)
        # The rooms' monitoring before the dispositions, so each shows its batch's EM status.
        envmon_demo.seed(users, password=DEMO_PASSWORD, car_t=car_t)
        dispositions = release_demo.seed(users, sponsors, password=DEMO_PASSWORD, car_t=car_t, aav=aav)
        # One account locked by repeated wrong passwords, as a real attack would leave it.
        for _ in range(5):
            with contextlib.suppress(DomainError):
                security.check_credentials("op.locked", "wrong-password-guess")
        return summarize(laboratory, dispositions)


def summarize(laboratory: dict, dispositions: dict) -> list[str]:
    """What the demo's laboratory and disposition hold, one line each, to print after seeding."""
    lines = []
    if (released := dispositions.get("car_t")) is not None:
        lines.append(f"{released.subject_ref} HLX-101 CAR-T: conditionally released ({released.number}) by qp.dubois, "
                     "sterility pending; its certificate of analysis is on the disposition page")
    if (aav := laboratory.get("aav")) is not None:
        oos = aav["oos"]
        lines.append(f"{aav['batch'].number} NVG-201 AAV: {oos.number} full capsids out of specification, in Phase II "
                     f"with {oos.deviation.number}; disposition {dispositions['aav'].number} open with red items")
        lines.append(f"qc.chen: {aav['due_today'].number} due today; qcr.ross: "
                     f"{aav['awaiting_review'].number} awaiting review")
    if (study := laboratory.get("study")) is not None:
        due = study.pulls.filter(pulled_at__isnull=True).order_by("due_date").first()
        lines.append(f"{study.number} HLX-101 stability: 0/3/6/9-month pulls tested"
                     + (f", 12-month pull due {due.due_date:%Y-%m-%d}" if due else ""))
    if (incoming := laboratory.get("incoming")) is not None:
        lines.append(f"{incoming.number}: incoming QC of {incoming.subject_ref} (LV-CD19, in quarantine), "
                     "sterility and RCL running")
    return lines


def print_summary(out, lines: list[str]) -> None:
    if lines:
        out.write("\nQC laboratory and disposition\n")
        for line in lines:
            out.write(f"  {line}\n")
