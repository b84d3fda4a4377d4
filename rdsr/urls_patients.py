from django.urls import path

from . import views_patients

urlpatterns = [
    path("patient-size/", views_patients.patient_size, name="patient-size"),
    path("non-patient-rules/", views_patients.non_patient_rules, name="non-patient-rules"),
    path(
        "non-patient-rules/<int:pk>/",
        views_patients.non_patient_rule_change,
        name="non-patient-rule-change",
    ),
    path("studies/<int:pk>/non-patient/", views_patients.study_non_patient, name="study-non-patient"),
]
