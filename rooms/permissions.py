"""Who may do what with a group. One place, so the API and the room agree."""

from rooms.models import Enrollment, EnrollmentStatus, GroupFacilitator, SupportGroup
from server.accounts.models import Role, User

STAFF = (Role.FACILITATOR, Role.ADMIN)


def is_admin(user: User) -> bool:
    return user.is_authenticated and user.is_active and user.role == Role.ADMIN


def has_staff_role(user: User) -> bool:
    """A facilitator or admin: someone whose role lets them moderate, in some group if not this
    one. Members are refused moderation whatever the object, before it is looked up."""
    return user.is_authenticated and user.is_active and user.role in STAFF


def facilitates(user: User, group: SupportGroup | int) -> bool:
    """A facilitator row counts only for an active facilitator or admin: someone demoted to
    member by any path (the Django admin edits the role alone) moderates nothing."""
    if not (user.is_authenticated and user.is_active and user.role in STAFF):
        return False
    group_id = group if isinstance(group, int) else group.pk
    return GroupFacilitator.objects.filter(group_id=group_id, user_id=user.pk).exists()


def can_moderate(user: User, group: SupportGroup | int) -> bool:
    """Facilitators of the group and admins: approve members, act in the room, see alerts."""
    return is_admin(user) or facilitates(user, group)


def can_manage(user: User, group: SupportGroup) -> bool:
    """Admins and the group's lead facilitator: edit the group and its schedule."""
    if is_admin(user):
        return True
    if not (user.is_authenticated and user.is_active and user.role in STAFF):
        return False
    return GroupFacilitator.objects.filter(group=group, user_id=user.pk, is_lead=True).exists()


def active_enrollment(user: User, group: SupportGroup | int) -> Enrollment | None:
    group_id = group if isinstance(group, int) else group.pk
    return Enrollment.objects.filter(
        group_id=group_id, user_id=user.pk, status=EnrollmentStatus.ACTIVE
    ).first()
