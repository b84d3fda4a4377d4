from django.urls import path, re_path

from . import views

urlpatterns = [
    path("exports/", views.export_index, name="export-index"),
    # /exports/studies.csv, /exports/events.xlsx, ... with the filters as query parameters.
    re_path(r"^exports/(?P<kind>studies|events)\.(?P<fmt>csv|xlsx)$", views.export_list, name="export-list"),
    path("exports/national/", views.export_national, name="export-national"),
    path("exports/jobs/", views.export_jobs, name="export-jobs"),
    path("exports/jobs/<int:pk>/download/", views.export_download, name="export-download"),
]
