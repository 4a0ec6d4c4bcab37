import os
import sys

from django.core.asgi import get_asgi_application

# The event loop shares the GIL with the database thread; a shorter switch interval keeps
# deliveries flowing while a batch is stored (measured in bench/ws_load.py).
sys.setswitchinterval(float(os.environ.get("GIL_SWITCH_INTERVAL", "0.0005")))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from server.backpressure import install as bound_inbound_frames  # noqa: E402
from server.routing import websocket_urlpatterns  # noqa: E402
from server.ws_auth import TicketOrSessionAuthStack  # noqa: E402
from server.ws_origin import SameOriginValidator  # noqa: E402

# A socket's frames wait in daphne's queue only up to this many; then its reading pauses.
bound_inbound_frames(settings.INBOUND_QUEUE_FRAMES)

if settings.EMBEDDED_WORKER:
    from rooms.worker import start_embedded_worker

    start_embedded_worker()

# The learned crisis model loads on its own thread while the server starts (a web process only:
# management commands never import this module).
from moderation.review import warm  # noqa: E402

warm()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Only pages of this site may open sockets: a foreign or missing Origin is refused, and
        # so is this host on another scheme or port (server/ws_origin.py).
        "websocket": SameOriginValidator(
            TicketOrSessionAuthStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
