from django.urls import path

from . import views

urlpatterns = [
    path("drl/procedures/", views.procedure_list, name="drl-procedures"),
    path("drl/procedures/<int:pk>/", views.procedure_edit, name="drl-procedure-edit"),
    path("drl/rules/", views.rule_list, name="drl-rules"),
    path("drl/rules/new/", views.rule_edit, name="drl-rule-add"),
    path("drl/rules/<int:pk>/", views.rule_edit, name="drl-rule-edit"),
    path("drl/rules/<int:pk>/delete/", views.rule_delete, name="drl-rule-delete"),
    path("drl/inbox/", views.inbox, name="drl-inbox"),
    path("drl/history/", views.history, name="drl-history"),
    path("drl/sets/", views.drl_sets, name="drl-sets"),
    path("drl/sets/compute/", views.drl_compute, name="drl-compute"),
    path("drl/sets/<int:pk>/", views.drl_set_detail, name="drl-set-detail"),
]
