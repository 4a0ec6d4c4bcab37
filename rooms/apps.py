from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = "Support groups and rooms"

    def ready(self) -> None:
        # Connects the sign-out receiver (closing that person's sockets) and the rights net
        # (rooms/rights.py) in every process.
        from rooms import events, rights  # noqa: F401
