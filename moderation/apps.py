from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"

    def ready(self) -> None:
        from moderation.services import audit_staff_action
        from server.accounts.signals import staff_action

        # Admins' and lead facilitators' changes to groups, sessions, enrollments and accounts
        # go into the audit log beside the moderation actions.
        staff_action.connect(audit_staff_action, dispatch_uid="moderation.audit_staff_action")
