"""Failed and rejected HL7 messages are in the review list with their error."""

import pytest
from django.urls import reverse

from ingest.mllp import hl7_message_store
from tests.ris.hl7_messages import adt, apply
from tests.web.factories import page_text

pytestmark = pytest.mark.django_db


def test_the_review_list_shows_rejected_and_failed_hl7_messages_with_their_error(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("reviewer", password="x"))
    hl7_message_store(raw=adt("A01", "P1", control="REV-1", version="3.0").encode(), peer="test")
    apply(adt("A01", "", control="REV-2"))

    text = page_text(client.get(reverse("review-list")))

    assert "REV-1" in text and "HL7 version 3.0 is not supported" in text
    assert "REV-2" in text and "PID-3" in text
