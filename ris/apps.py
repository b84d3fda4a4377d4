from django.apps import AppConfig


class RisConfig(AppConfig):
    """The RIS/HIS feed: orders, patient identity changes, reconciliation."""

    name = "ris"
    verbose_name = "RIS feed and reconciliation"
