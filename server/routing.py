from django.urls import path

from moderation.consumers import AlertsConsumer
from rooms.consumers import RoomConsumer

websocket_urlpatterns = [
    path("ws/rooms/<int:group_id>/", RoomConsumer.as_asgi()),
    path("ws/alerts/", AlertsConsumer.as_asgi()),
]
