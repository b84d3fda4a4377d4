from django.apps import AppConfig


class DrlConfig(AppConfig):
    name = "drl"
