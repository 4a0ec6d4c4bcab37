from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"

    def ready(self) -> None:
        from moderation import review
        from moderation.actions import author_hide, hidden_authors, unattended_check
        from moderation.commands import room_commands
        from moderation.jobs import worker_jobs
        from moderation.services import audit_staff_action, open_support_card
        from rooms import hooks
        from server.accounts.signals import staff_action

        # Admins' and lead facilitators' changes to groups, sessions, enrollments and accounts
        # go into the audit log beside the moderation actions.
        staff_action.connect(audit_staff_action, dispatch_uid="moderation.audit_staff_action")
        # Where moderation joins the rooms below it (rooms/hooks.py). The crisis assessment and
        # its alert are not among these: the send path calls them directly.
        hooks.register(hooks.HIDDEN_AUTHORS, hidden_authors)
        hooks.register(hooks.AUTHOR_HIDE, author_hide)
        # The last facilitator leaving a live session alerts on-call; one coming back ends it.
        hooks.register(hooks.MODERATORS_CHANGED, unattended_check)
        # Acknowledged and announced: now the learned stage reads the message, off the send path.
        hooks.register(hooks.MESSAGE_DELIVERED, review.submit)
        hooks.register(hooks.ROOM_COMMANDS, room_commands)
        hooks.register(hooks.WORKER_JOBS, worker_jobs)
        # A member's `hello` carries the support card of an alert still open.
        hooks.register(hooks.HELLO_SUPPORT, open_support_card)
