from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SMTPConfigConfig(AppConfig):
    name = "smtpconfig"
    verbose_name = _("Outgoing mail (SMTP)")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from . import checks  # noqa: F401 (registers the system checks)
        from .delivery.profiles import profiles_changed
        from .models import SMTPProfile
        from .models.versions import version_triggers_after_migrate
        from .outbox.alerts import failover_happened
        from .outbox.tasks import messages_queued as wake_worker
        from .signals import failover, messages_queued, profiles_updated

        post_save.connect(profiles_changed, sender=SMTPProfile, dispatch_uid="smtpconfig-saved")
        post_delete.connect(profiles_changed, sender=SMTPProfile, dispatch_uid="smtpconfig-deleted")
        # SQLite drops a table's triggers when a migration rebuilds it: make them again.
        post_migrate.connect(
            version_triggers_after_migrate, sender=self, dispatch_uid="smtpconfig-triggers"
        )
        profiles_updated.connect(
            profiles_changed, sender=SMTPProfile, dispatch_uid="smtpconfig-updated"
        )
        messages_queued.connect(wake_worker, dispatch_uid="smtpconfig-wake-worker")
        failover.connect(failover_happened, dispatch_uid="smtpconfig-failover-alert")
