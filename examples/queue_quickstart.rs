use bytes::Bytes;
use shardlog::engine::*;
use shardlog::{Engine, EngineConfig};
use std::time::Duration;

fn main() -> shardlog::Result<()> {
    let engine = Engine::open(std::env::temp_dir().join("shardlog-jobs"), EngineConfig::default())?;
    if engine.queue("orders", "workers").is_err() {
        // Without ShardCount a stream is ON_DEMAND, which queues need.
        let _ = engine.create_stream(CreateStreamInput { stream_name: "orders".into(), ..Default::default() });
        let stream_arn = engine.describe_stream_summary(StreamRef::name("orders"))?.stream_arn;
        engine.create_queue(CreateQueueInput {
            queue_name: "workers".into(),
            stream_configuration_list: vec![QueueStreamConfiguration { stream_arn, starting_position: None }],
            ..Default::default()
        })?;
    }
    engine.put_record(PutRecordInput {
        stream: StreamRef::name("orders"),
        partition_key: Some("customer-42".into()),
        data: Bytes::from_static(b"ship order 42"),
        ..Default::default()
    })?;
    let workers = engine.queue("orders", "workers")?;
    for job in workers.receive(100, Duration::from_secs(1))? {
        println!("{:?} (delivery {})", job.data(), job.receive_count());
        job.ack()?; // done; or job.extend(Duration::from_secs(60))? / job.release()?
    }
    engine.close()
}
