import pytest

from shared.residents import (
    FOLLOW_PURPOSE,
    normalise_contact,
    report_token,
    report_token_matches,
    resident_ref,
    resident_token,
    secrets_equal,
    token_matches,
)
from shared.service import platform_topics
from shared.settings import Settings
from shared.topics import RESIDENTS_CONTACTS, SERVICES, dead_letters

pytestmark = pytest.mark.unit


def test_references_are_pseudonymous_and_tokens_are_bound_to_them():
    ref = resident_ref("k", normalise_contact("13800000000", None))
    assert ref.startswith("res_") and "138" not in ref
    assert resident_ref("other-key", normalise_contact("13800000000", None)) != ref
    token = resident_token("k", ref)
    assert token_matches("k", ref, token)
    assert not token_matches("k", resident_ref("k", "mailto:a@b.cn"), token)


def test_a_report_token_opens_its_report_and_passes_for_no_resident():
    ref = resident_ref("k", "tel:13800000000")
    token = report_token("k", "iss_a")
    assert report_token_matches("k", "iss_a", token)
    assert not report_token_matches("k", "iss_b", token)
    assert not report_token_matches("k", "iss_a", resident_token("k", ref))
    assert not token_matches("k", "iss_a", token)  # its purpose differs, whatever the subject
    assert not token_matches("k", ref, token)
    followed = report_token("k", "iss_a", FOLLOW_PURPOSE)  # a follower's: not the reporter's
    assert followed != token and report_token_matches("k", "iss_a", followed, FOLLOW_PURPOSE)
    assert not report_token_matches("k", "iss_a", followed)


def test_a_token_with_non_ascii_characters_is_simply_wrong():
    # hmac.compare_digest raises TypeError on str holding non-ASCII: a 500 to the client
    ref = resident_ref("k", "tel:13800000000")
    assert not token_matches("k", ref, "令牌é")
    assert not token_matches("k", ref, resident_token("k", ref)[:-1] + "\u00ff")
    assert token_matches("k", ref, resident_token("k", ref))
    assert secrets_equal("abc", "abc") and not secrets_equal("abc", "abç")


def test_no_contact_gives_a_fresh_reference_each_time():
    assert resident_ref("k", None) != resident_ref("k", None)


def test_the_catalogue_has_every_department_topic_and_a_dead_letter_topic_per_service():
    topics = {t.name: t for t in platform_topics(Settings())}
    assert "dept.urban-mgmt.tasks" in topics
    assert all(dead_letters(s) in topics for s in SERVICES)
    contacts = topics[RESIDENTS_CONTACTS]
    assert contacts.compacted and contacts.configs()["cleanup.policy"] == "compact"


def test_production_refuses_the_development_secret():
    with pytest.raises(ValueError, match="LINLI_RESIDENT_SECRET"):
        Settings(env="production")
    with pytest.raises(ValueError, match="LINLI_CONSULT_SECRET"):
        Settings(env="production", resident_secret="s3cret", web_token_secret="w3b")
    with pytest.raises(ValueError, match="LINLI_WEB_TOKEN_SECRET"):
        Settings(env="production", resident_secret="s3cret", consult_secret="c0nsult")
    settings = Settings(
        env="production", resident_secret="s3cret", consult_secret="c0nsult", web_token_secret="w3b"
    )
    assert settings.env == "production"


def test_topics_on_three_brokers_need_two_copies_of_every_write():
    topics = platform_topics(Settings())
    assert {t.configs(3)["min.insync.replicas"] for t in topics} == {"2"}
    assert {t.configs(5)["min.insync.replicas"] for t in topics} == {"2"}
    # With fewer than three copies, every copy is needed by none: one broker may be down.
    assert {t.configs(1)["min.insync.replicas"] for t in topics} == {"1"}
    assert {t.configs(2)["min.insync.replicas"] for t in topics} == {"1"}


def test_the_kafka_clients_get_one_bootstrap_server_each():
    settings = Settings(kafka_bootstrap="127.0.0.1:9092, 127.0.0.1:9094,127.0.0.1:9096")
    assert settings.kafka_servers == ["127.0.0.1:9092", "127.0.0.1:9094", "127.0.0.1:9096"]
