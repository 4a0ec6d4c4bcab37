from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from frontend import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.ThrottledLoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("account/", views.account, name="account"),
    path("logout/done/", views.account_deleted, name="account-deleted"),
    path("groups/", views.catalogue, name="catalogue"),
    path("groups/<int:group_id>/", views.group_detail, name="group"),
    path("rooms/<int:group_id>/", views.room, name="room"),
    path("alerts/", views.alerts, name="alerts"),
    # The alert e-mails link here (moderation/services.py).
    path("facilitate/", RedirectView.as_view(pattern_name="alerts"), name="facilitate"),
    path("manage/", views.manage, name="manage"),
    path("manage/groups/new/", views.group_edit, name="group-new"),
    path("manage/groups/<int:group_id>/", views.group_edit, name="group-edit"),
    path("manage/people/", views.people, name="people"),
    path("audit/", views.audit, name="audit"),
    path("favicon.ico", RedirectView.as_view(url=static("frontend/favicon.svg"), permanent=True)),
    path("app/room-states/", views.room_states, name="room-states"),
]
