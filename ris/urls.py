from django.urls import path

from . import views

urlpatterns = [
    path("reconciliation/", views.reconciliation, name="reconciliation"),
    path("studies/<int:pk>/reassign/", views.study_reassign, name="study-reassign"),
    path("reassignments/<int:pk>/reverse/", views.study_reassignment_reverse, name="study-reassignment-reverse"),
    path("orders/", views.order_list, name="order-list"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
]
