"""Realistic records built through the services, as users would build them."""

import queue
import threading

from django.db import connection

from opencdmo.core import context, security
from opencdmo.core import services as core_services
from opencdmo.core.errors import PermissionDenied
from opencdmo.core.signatures import SignatureInput
from opencdmo.sponsors import services as sponsor_services

from .conftest import PASSWORD


def signature(user, meaning: str, *, password: str = PASSWORD, with_user_id: bool = True,
              comment: str = "") -> SignatureInput:
    """What `user` types into the signature dialog."""
    return SignatureInput(meaning=meaning, password=password,
                          username=user.username if with_user_id else "", comment=comment)


def draft_agreement(author, sponsor, title: str = "Quality agreement — CD19 CAR-T clinical supply", **fields):
    return sponsor_services.draft_quality_agreement(
        author, sponsor=sponsor, title=title,
        terms=fields.pop("terms", "Deviations notified within 2 working days; changes need sponsor approval."),
        **fields,
    )


def submitted_agreement(author, sponsor, **fields):
    agreement = draft_agreement(author, sponsor, **fields)
    return sponsor_services.transition_quality_agreement(
        author, agreement, "submit", signature=signature(author, "Authored"))


def approved_agreement(author, approver, sponsor, **fields):
    agreement = submitted_agreement(author, sponsor, **fields)
    return sponsor_services.transition_quality_agreement(
        approver, agreement, "approve", signature=signature(approver, "Approved"))


class Workers:
    """Application workers for a transactional test: each a thread with its own database
    connection (so its own audit-chain lane), running the calls it is given one at a time."""

    def __init__(self, count: int):
        self._queues = [queue.Queue() for _ in range(count)]
        self._threads = [threading.Thread(target=self._serve, args=(q,), daemon=True) for q in self._queues]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _serve(jobs: queue.Queue) -> None:
        try:
            while (job := jobs.get()) is not None:
                fn, args, kwargs, client_address, outcome, done = job
                try:
                    with context.action(client_address=client_address):
                        outcome["value"] = fn(*args, **kwargs)
                except BaseException as exc:  # handed back to the caller's thread
                    outcome["error"] = exc
                done.set()
        finally:
            connection.close()

    def run(self, worker: int, fn, *args, client_address: str = "10.20.0.5", **kwargs):
        outcome, done = {}, threading.Event()
        self._queues[worker].put((fn, args, kwargs, client_address, outcome, done))
        done.wait()
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    def close(self) -> None:
        for jobs in self._queues:
            jobs.put(None)
        for thread in self._threads:
            thread.join()


def build_realistic_trail():
    """An installation's first days, written by four workers (so four audit lanes):
    accounts and roles, a sponsor with its program and product, a quality agreement drafted,
    edited, signed as authored and approved, a failed login, a phase change, a deactivation.
    Needs a transactional test (committed data, shared between connections)."""
    workers = Workers(4)
    try:
        return _first_days(workers.run)
    finally:
        workers.close()


def _first_days(run):
    def create(worker, actor, username, full_name, role, address):
        return run(worker, core_services.create_user, actor, username=username, full_name=full_name,
                   password=PASSWORD, roles=[role], reason="joined the QA department", client_address=address)

    admin = create(0, None, "sys.admin", "Sam Okafor", "system_admin", "command line")
    author = create(0, admin, "qa.author", "Alex Moreau", "qa_specialist", "10.20.0.11")
    approver = create(1, admin, "qa.approver", "Quinn Larsen", "qa_approver", "10.20.0.11")
    operator = create(2, admin, "op.bauer", "Olivia Bauer", "operator", "10.20.0.12")
    sponsor = run(1, sponsor_services.create_sponsor, admin, code="ACME", name="Acme Cell Therapeutics")
    run(0, core_services.set_sponsor_access, admin, author, [sponsor.pk],
        reason="QA specialist for Acme", client_address="10.20.0.11")
    program = run(3, sponsor_services.create_program, author, sponsor=sponsor, code="ACME-CD19",
                  name="CD19 CAR-T", description="Autologous anti-CD19 CAR-T, r/r DLBCL")
    product = run(2, sponsor_services.create_product, author, program=program, code="ACM-101",
                  name="Autologous CD19 CAR-T", modality="autologous_cell", phase="phase_1")
    run(0, core_services.set_sponsor_access, admin, approver, [sponsor.pk],
        reason="QA approver for Acme", client_address="10.20.0.11")
    agreement = run(3, draft_agreement, author, sponsor, client_address="10.20.0.21")
    run(1, sponsor_services.edit_quality_agreement, author, agreement, deviation_notification_days=3,
        client_address="10.20.0.21")
    run(2, sponsor_services.transition_quality_agreement, author, agreement, "submit",
        signature=signature(author, "Authored"), client_address="10.20.0.21")

    def mistyped_login():
        try:
            security.check_credentials("qa.approver", "correct horse battery stapel")
        except PermissionDenied:
            return None
        raise AssertionError("a wrong password was accepted")

    run(3, mistyped_login, client_address="10.20.0.31")
    run(0, lambda: security.record_login(security.check_credentials("qa.approver", PASSWORD)),
        client_address="10.20.0.31")
    run(1, sponsor_services.transition_quality_agreement, approver, agreement, "approve",
        signature=signature(approver, "Approved", comment="terms agreed with Acme QA"),
        client_address="10.20.0.31")
    run(2, sponsor_services.change_product_phase, author, product, phase="phase_2",
        reason="phase 2 IND amendment cleared", client_address="10.20.0.21")
    run(3, core_services.update_user, admin, operator, full_name="Olivia Bauer-Stein",
        reason="name change, HR ticket 4411")
    run(0, core_services.deactivate_user, admin, operator, reason="left the company")
    second = run(1, draft_agreement, author, sponsor, title="Quality agreement — commercial supply",
                 client_address="10.20.0.21")
    run(2, sponsor_services.transition_quality_agreement, author, second, "void",
        reason="drafted against the wrong template", client_address="10.20.0.21")
    return {"admin": admin, "author": author, "approver": approver, "operator": operator,
            "sponsor": sponsor, "product": product, "agreement": agreement}
