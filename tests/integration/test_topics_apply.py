import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.kafka.admin import apply_topics
from shared.service import platform_topics
from shared.topics import RESIDENTS_CONTACTS

pytestmark = pytest.mark.integration


async def test_apply_creates_everything_once_then_changes_nothing(settings):
    topics = platform_topics(settings)
    args = dict(prefix=settings.topic_prefix, default_partitions=2, replication=1)
    first = await apply_topics(settings.kafka_bootstrap, topics, **args)
    assert len(first.created) == len(topics)
    second = await apply_topics(settings.kafka_bootstrap, topics, **args)
    assert second.created == [] and second.grown == []
    assert len(second.unchanged) == len(topics)

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        name = settings.topic_prefix + RESIDENTS_CONTACTS
        [described] = await admin.describe_topics([name])
        assert len(described["partitions"]) == 3
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, {"cleanup.policy": None})]
        )
        configs = {c[0]: c[1] for c in response.resources[0][4]}
        assert configs["cleanup.policy"] == "compact"
    finally:
        await admin.close()


async def test_apply_grows_partitions_of_an_existing_topic(settings):
    topics = [t for t in platform_topics(settings) if t.name == "issues.reported"]
    await apply_topics(
        settings.kafka_bootstrap, topics, prefix=settings.topic_prefix, default_partitions=1
    )
    report = await apply_topics(
        settings.kafka_bootstrap, topics, prefix=settings.topic_prefix, default_partitions=3
    )
    assert report.grown == [settings.topic_prefix + "issues.reported"]
