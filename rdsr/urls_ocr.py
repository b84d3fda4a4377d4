from django.urls import path

from . import views_ocr

urlpatterns = [
    path("ocr/", views_ocr.ocr_review_list, name="ocr-review"),
    path("ocr/objects/<int:pk>/", views_ocr.ocr_review_object, name="ocr-review-object"),
    path("ocr/objects/<int:pk>/screen.png", views_ocr.ocr_review_screen, name="ocr-review-screen"),
]
