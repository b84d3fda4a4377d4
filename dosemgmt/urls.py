from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

admin.site.site_header = "dosemgmt administration"
admin.site.site_title = "dosemgmt"
admin.site.index_title = "Records and settings"

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("ingest.urls")),
    path("", include("rdsr.urls")),
    path("", include("rdsr.urls_ocr")),
    path("", include("rdsr.urls_patients")),
    path("", include("audit.urls")),
    path("", include("drl.urls")),
    path("", include("drl.urls_stats")),
    path("", include("ris.urls")),
    path("", include("alerts.urls")),
    path("", include("exports.urls")),
]
