"""Pseudonyms are a keyed hash: stable under one secret, different under another."""

import hashlib
import hmac

import pytest

from exports.pseudonym import pseudonym


def test_the_same_identifier_gets_the_same_pseudonym_every_time():
    assert pseudonym(secret="s1", kind="patient", value="PAT-0001") == pseudonym(
        secret="s1", kind="patient", value=" PAT-0001 "
    )


def test_it_is_hmac_sha256_of_kind_and_value_under_the_secret():
    expected = hmac.new(b"s1", b"patient\x1fPAT-0001", hashlib.sha256).hexdigest()[:32]
    assert pseudonym(secret="s1", kind="patient", value="PAT-0001") == expected


def test_another_secret_gives_another_pseudonym():
    assert pseudonym(secret="s1", kind="patient", value="PAT-0001") != pseudonym(
        secret="s2", kind="patient", value="PAT-0001"
    )


def test_a_patient_id_and_an_accession_with_the_same_text_differ():
    assert pseudonym(secret="s1", kind="patient", value="123") != pseudonym(secret="s1", kind="accession", value="123")


def test_no_identifier_gives_no_pseudonym_and_no_secret_is_refused():
    assert pseudonym(secret="s1", kind="patient", value="") == ""
    with pytest.raises(ValueError):
        pseudonym(secret="", kind="patient", value="PAT-0001")
