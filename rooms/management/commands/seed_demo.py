import datetime as dt

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from rooms.models import DEFAULT_AGREEMENT, Session
from rooms.services import enrollment_join, group_create
from server.accounts.models import Role, User
from server.accounts.services import account_create

DEMO_PASSWORD = "haven-demo-2026"
ACCOUNTS = [
    ("admin", Role.ADMIN, True),
    ("carol", Role.FACILITATOR, False),
    ("frank", Role.FACILITATOR, True),
    ("alice", Role.MEMBER, False),
    ("bob", Role.MEMBER, False),
    ("dana", Role.MEMBER, False),
    ("eli", Role.MEMBER, False),
    ("gwen", Role.MEMBER, False),
]


class Command(BaseCommand):
    help = "Create demo accounts and groups (once; later runs only print the logins)."

    def handle(self, *args, **options):
        if not User.objects.filter(username="admin").exists():
            with transaction.atomic():
                self._seed()
        self.stdout.write(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
        for name, role, _ in ACCOUNTS:
            self.stdout.write(f"  {name:<6} {role}")

    def _seed(self) -> None:
        users = {
            name: account_create(
                username=name,
                password=DEMO_PASSWORD,
                role=role,
                email=f"{name}@example.org",
                on_call=on_call,
            )
            for name, role, on_call in ACCOUNTS
        }
        now = timezone.now()
        evening = group_create(
            fields={
                "name": "Rebuilding Trust — Evening Circle",
                "description": "A weekly circle for partners healing after infidelity.",
                "timezone": "America/Los_Angeles",
                "capacity": 8,
                "join_policy": "open",
                "agreement_text": DEFAULT_AGREEMENT,
                "rrule": "FREQ=WEEKLY;BYDAY=TU",
                "start_date": (now - dt.timedelta(days=7)).date(),
                "start_time": dt.time(19, 0),
                "duration_minutes": 90,
            },
            facilitator_ids=[users["carol"].pk, users["frank"].pk],
            lead_id=users["carol"].pk,
        )
        # A session live right now, so the room can be tried at once.
        Session.objects.create(
            group=evening,
            starts_at=now - dt.timedelta(minutes=5),
            ends_at=now + dt.timedelta(hours=3),
        )
        drop_in = group_create(
            fields={
                "name": "After Discovery — Drop-in",
                "description": "Always open, for the hard days after finding out.",
                "timezone": "America/New_York",
                "capacity": 20,
                "join_policy": "approval",
                "drop_in": True,
                "agreement_text": DEFAULT_AGREEMENT,
            },
            facilitator_ids=[users["frank"].pk],
        )
        for name, alias in [("alice", "Willow"), ("bob", "River"), ("dana", "Harbor")]:
            enrollment_join(group=evening, user=users[name], alias=alias, agreement_accepted=True)
        enrollment_join(group=drop_in, user=users["eli"], alias="Cedar", agreement_accepted=True)
