from django.urls import path

from . import views

urlpatterns = [
    path("alerts/", views.inbox, name="alert-inbox"),
    path("alerts/bulk/", views.bulk, name="alert-bulk"),
    path("alerts/rules/", views.rule_list, name="alert-rules"),
    path("alerts/<int:pk>/", views.detail, name="alert-detail"),
    path("alerts/<int:pk>/status/", views.transition, name="alert-transition"),
    path("alerts/<int:pk>/assign/", views.assign, name="alert-assign"),
    path("alerts/<int:pk>/comment/", views.comment, name="alert-comment"),
]
