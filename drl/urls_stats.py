from django.urls import path

from . import views_stats

urlpatterns = [
    path("stats/", views_stats.dashboard, name="stats-dashboard"),
    path("stats/table/", views_stats.stats_table, name="stats-table"),
    path("stats/timeline/", views_stats.timeline, name="stats-timeline"),
    path("stats/distribution/", views_stats.distribution, name="stats-distribution"),
    path("stats/exceedances/", views_stats.exceedances, name="stats-exceedances"),
    path("stats/studies/", views_stats.study_list, name="stats-studies"),
    path("stats/events/", views_stats.event_list, name="stats-events"),
    path("stats/patients/<int:pk>/", views_stats.patient_history, name="stats-patient"),
]
