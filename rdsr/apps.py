from django.apps import AppConfig


class RdsrConfig(AppConfig):
    name = "rdsr"
    verbose_name = "Dose records"
