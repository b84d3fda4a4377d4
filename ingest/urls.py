from django.urls import path

from . import views

urlpatterns = [
    path("review/", views.review_list, name="review-list"),
    path("review/<int:pk>/reprocess/", views.review_reprocess, name="review-reprocess"),
    path("review/reprocess-failed/", views.review_reprocess_failed, name="review-reprocess-failed"),
]
