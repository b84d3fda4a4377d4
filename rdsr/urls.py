from django.urls import path

from . import views

urlpatterns = [
    path("", views.study_list, name="study-list"),
    path("studies/<int:pk>/", views.study_detail, name="study-detail"),
]
