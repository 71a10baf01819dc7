use bytes::Bytes;
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Error};

fn main() -> shardlog::Result<()> {
    let dir = std::env::temp_dir().join("shardlog-quickstart");
    let engine = Engine::open(&dir, EngineConfig { durability: Durability::Sync, ..Default::default() })?;
    // Kinesis' CreateStream refuses an existing name: on the second run the stream is kept.
    let create = CreateStreamInput { stream_name: "orders".into(), shard_count: Some(2), ..Default::default() };
    match engine.create_stream(create) {
        Ok(()) | Err(Error::ResourceInUse { .. }) => {}
        Err(e) => return Err(e),
    }
    let put = engine.put_record(PutRecordInput {
        stream: StreamRef::name("orders"),
        partition_key: Some("customer-42".into()),
        data: Bytes::from_static(b"{\"total\": 12}"),
        ..Default::default()
    })?;
    // Acknowledged: under Durability::Sync the record was fdatasync'd before put_record returned.
    let it = engine.get_shard_iterator(GetShardIteratorInput {
        stream: StreamRef::name("orders"),
        shard_id: put.shard_id.clone(),
        shard_iterator_type: ShardIteratorType::AtSequenceNumber,
        starting_sequence_number: Some(put.sequence_number.to_string()),
        timestamp: None,
        dry_run: false,
    })?;
    let out = engine.get_records(GetRecordsInput { shard_iterator: it.shard_iterator, ..Default::default() })?;
    assert_eq!(out.records.first().map(|r| &r.sequence_number), Some(&put.sequence_number));
    println!("{} holds {} in {}", dir.display(), put.sequence_number, put.shard_id);
    engine.close()
}
