"""The one adapter to FastStream's internals (shared/kafka/faststream_adapter.py) still finds
what it relies on: this fails when a FastStream release moves it, so the publisher's hot path
is fixed in that one module instead of silently falling back to the slower path."""

import pytest
from aiokafka import AIOKafkaProducer

from shared.kafka.broker import make_broker
from shared.kafka.faststream_adapter import connected_producer

pytestmark = pytest.mark.integration


async def test_the_connected_producer_is_found_only_while_the_broker_is_connected(settings):
    broker = make_broker(settings, "adapter-test")
    assert connected_producer(broker) is None
    await broker.start()
    try:
        producer = connected_producer(broker)
        assert isinstance(producer, AIOKafkaProducer)
    finally:
        await broker.stop()
    assert connected_producer(broker) is None
