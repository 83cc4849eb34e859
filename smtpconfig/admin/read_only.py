"""Admin pages that only show records: the delivery log and the outbox."""


class ReadOnlyAdminMixin:
    """No add, no edit, no delete: rows come from sending and go by a retention setting
    (``smtp_prune_log``, the outbox's sweeper), so that the record stays whole."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
