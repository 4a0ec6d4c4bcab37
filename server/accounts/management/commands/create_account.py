from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from server.accounts.models import Role
from server.accounts.services import account_create


class Command(BaseCommand):
    help = "Create an account with a role: member, facilitator or admin."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", choices=Role.values, default=Role.MEMBER)
        parser.add_argument("--email", default="")
        parser.add_argument("--on-call", action="store_true")

    def handle(self, *args, **options):
        try:
            user = account_create(
                username=options["name"],
                password=options["password"],
                role=options["role"],
                email=options["email"],
                on_call=options["on_call"],
            )
        except ValidationError as exc:
            messages = [m for msgs in exc.message_dict.values() for m in msgs]
            raise CommandError(" ".join(messages)) from exc
        self.stdout.write(f"Created {user.role} '{user.username}' (id {user.pk}).")
