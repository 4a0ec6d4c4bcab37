from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = "Support groups and rooms"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from rooms import events

        def close_sockets_on_logout(sender, request, user, **kwargs):  # type: ignore[no-untyped-def]
            # Signing out ends every live room socket of this person, on every device: on a
            # shared computer nobody should stay in a support room after "Sign out".
            if user is not None:
                events.user_access_revoked_on_commit(user_id=user.pk)

        user_logged_out.connect(close_sockets_on_logout, dispatch_uid="rooms-logout")
