"""Demo training: curricula for operators, supervisors, QC analysts and QA, built through the services
(`opencdmo seed-demo`), with most people trained, some overdue and some due, so the matrix tells a story.
"""

from opencdmo.core import clock
from opencdmo.core.signatures import SignatureInput
from opencdmo.documents.demo import DOCUMENTS
from opencdmo.documents.models import Document

from . import services
from .models import TrainingAssignment

# (name, roles, document keys, course names, due days)
CURRICULA = [
    ("Operator", ["operator"], ["gowning", "aseptic", "prodigy", "cleaning", "clearance"],
     ["Grade B gowning qualification"], 30),
    ("Supervisor", ["supervisor"], ["gowning", "deviations", "changes", "clearance"], [], 30),
    ("QC Analyst", ["qc_analyst", "qc_reviewer"], ["counting", "gdp", "hlx_spec"], [], 30),
    ("QA", ["qa_specialist", "qa_approver"], ["deviations", "changes", "hlx_spec"], [], 30),
]

# Who leaves what undone: (user ID, document key) pairs left open.
LEFT_OPEN = {("op.garcia", "gowning"), ("op.locked", "gowning"), ("op.locked", "aseptic"),
             ("op.locked", "prodigy"), ("qc.chen", "hlx_spec")}


def _rounds(users: dict, password: str):
    """complete_open(days): everyone signs what is open then, except LEFT_OPEN and the upcoming
    cleaning SOP v2.0 (due next month)."""
    now = clock.now()
    titles = {title: key for key, _, title, *_ in DOCUMENTS}
    documents = {titles[d.title]: d for d in Document.objects.filter(title__in=titles)}
    qa, trainer = users["qa.patel"], users["sup.santos"]
    keys = {d.pk: k for k, d in documents.items()}

    def sign(user, meaning):
        return SignatureInput(meaning=meaning, password=password, username=user.username)

    def complete_open(days: float):
        with clock.days_ago(now, days, 10):
            for a in TrainingAssignment.objects.filter(status="assigned").select_related(
                    "user", "course", "document_version__document").order_by("pk"):
                key = keys.get(a.document_version.document_id) if a.document_version_id else None
                if (a.user.username, key) in LEFT_OPEN or (key == "cleaning" and a.document_version.major == 2):
                    continue
                if a.course_id:
                    if a.user.username != "op.locked":
                        services.record_session(trainer if a.user != trainer else qa, a, passed=True, score=92,
                                                signature=sign(trainer if a.user != trainer else qa, "Trainer"))
                elif a.user.username != "op.locked" or key in ("cleaning", "clearance"):
                    services.transition_assignment(a.user, a, "read_and_understood",
                                                   signature=sign(a.user, "Read and Understood"))

    return complete_open


def seed(users: dict, sponsors: dict, *, password: str) -> None:
    """Curricula and the first round of training, a year ago (after the documents' first issue)."""
    qa = users["qa.patel"]
    titles = {title: key for key, _, title, *_ in DOCUMENTS}
    documents = {titles[d.title]: d for d in Document.objects.filter(title__in=titles)}
    with clock.days_ago(clock.now(), 388, 10):
        course = services.create_course(qa, name="Grade B gowning qualification",
                                        description="Gowning under observation, then three passed glove and gown "
                                                    "contact plates.")
        for name, roles, doc_keys, courses, due in CURRICULA:
            services.create_curriculum(qa, name=name, roles=roles, documents=[documents[k] for k in doc_keys],
                                       courses=[course] if courses else [], due_days=due)
    _rounds(users, password)(375)  # the first issue: everyone trained within two weeks (op.locked only partly)


def seed_recent(users: dict, *, password: str) -> None:
    """After the documents' revisions: people trained on gowning v2.0, except op.garcia (now overdue)."""
    _rounds(users, password)(40)
