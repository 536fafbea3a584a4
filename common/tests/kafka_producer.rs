//! The producer's delivery reports reach whoever sent the message, against
//! a real broker: acknowledged while it runs, failed once it is gone, and
//! failed (not lost) when the producer is dropped with messages queued.

use std::time::Duration;

use ferrotrace_common::kafka_client::{KafkaLogs, LogContext};
use ferrotrace_common::kafka_producer::KafkaProducer;
use ferrotrace_testkit::{unique_name, Tansu};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;

fn producer(brokers: &str) -> KafkaProducer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("message.timeout.ms", "3000");
    KafkaProducer::new(&config, LogContext(KafkaLogs::new("test producer")))
        .expect("creating the producer")
}

#[tokio::test]
async fn acknowledgements_and_failures_reach_the_sender() -> anyhow::Result<()> {
    let mut tansu = Tansu::start().await?;
    let topic = unique_name("producer-acks");
    tansu.create_topic(&topic, 2).await?;
    let producer = producer(&tansu.brokers());

    // Queued together, acknowledged one by one, at consecutive offsets.
    let mut deliveries = Vec::new();
    for i in 0..10u32 {
        let value = i.to_string();
        let record = FutureRecord::<str, str>::to(&topic)
            .partition(1)
            .payload(&value);
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
    }
    let mut offsets = Vec::new();
    for delivery in deliveries {
        let delivery = delivery.await?.map_err(|(e, _)| e)?;
        assert_eq!(delivery.partition, 1);
        offsets.push(delivery.offset);
    }
    assert_eq!(offsets, (0..10).collect::<Vec<i64>>());

    // The waiting send, as the side producers use it.
    let delivery = producer
        .send(
            FutureRecord::<str, str>::to(&topic)
                .partition(0)
                .payload("x"),
            Duration::from_secs(1),
        )
        .await?;
    assert_eq!((delivery.partition, delivery.offset), (0, 0));

    // Broker gone: the report is a failure, with the message handed back.
    tansu.stop().await;
    let record = FutureRecord::<str, str>::to(&topic)
        .partition(0)
        .payload("lost");
    let report = producer.send_result(record).map_err(|(e, _)| e)?.await?;
    let (error, message) = report.expect_err("the broker is stopped");
    assert_eq!(
        error,
        KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut)
    );
    assert_eq!(rdkafka::Message::payload(&message), Some(&b"lost"[..]));
    Ok(())
}

#[tokio::test]
async fn dropping_the_producer_fails_what_is_still_queued() -> anyhow::Result<()> {
    // No broker at all: the message stays queued until the producer goes.
    let producer = producer(&format!("127.0.0.1:{}", ferrotrace_testkit::free_port()));
    let delivery = producer
        .send_result(FutureRecord::<str, str>::to("nowhere").payload("queued"))
        .map_err(|(e, _)| e)?;
    drop(producer);
    let report = delivery.await?;
    let (error, _) = report.expect_err("purged at drop");
    assert_eq!(
        error,
        KafkaError::MessageProduction(RDKafkaErrorCode::PurgeQueue)
    );
    Ok(())
}
