import signal

from django.core.management.base import BaseCommand

from rooms.worker import Worker


class Command(BaseCommand):
    help = "Run the background worker (sessions, reminders, escalation deadlines, retention)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run every job once and exit.")

    def handle(self, *args, **options):
        worker = Worker()
        if options["once"]:
            worker.run_once()
            return

        def stop(signum, frame):
            worker.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        worker.run_forever()
