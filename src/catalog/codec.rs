//! Byte layout of the `MANIFEST` file (see `docs/format.md`): a fixed header, the encoded
//! catalog, and a CRC-32 over everything before it. Decoding checks every length against the
//! bytes that remain before allocating, and rejects unknown versions.

use std::collections::BTreeMap;

use crate::catalog::{
    Catalog, Checkpoint, ConsumerMeta, ShardClose, ShardMeta, StreamLifecycle, StreamMeta, StreamMode,
};
use crate::engine::control::{DEFAULT_MAX_RECORD_KIB, DEFAULT_RETENTION_HOURS, MAX_MAX_RECORD_KIB};
use crate::engine::fanout::MAX_CONSUMERS_PER_STREAM;
use crate::engine::retention::MAX_RETENTION_HOURS;
use crate::kinesis::{names, HashKeyRange};

/// Magic bytes of the manifest.
pub const MANIFEST_MAGIC: [u8; 4] = *b"SLMF";
/// Manifest format version.
pub const MANIFEST_VERSION: u16 = 1;
/// Header bytes: magic, version, reserved, generation, body length.
pub const MANIFEST_HEADER_LEN: usize = 20;
/// Largest manifest accepted (bytes).
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024 * 1024;

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.u32(v);
            }
            None => self.u8(0),
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

type DecodeResult<T> = std::result::Result<T, String>;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or("length overflows")?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.arr::<1>()?[0])
    }
    fn u16(&mut self) -> DecodeResult<u16> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn i64(&mut self) -> DecodeResult<i64> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    fn u128(&mut self) -> DecodeResult<u128> {
        Ok(u128::from_le_bytes(self.arr()?))
    }
    fn str(&mut self) -> DecodeResult<String> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("invalid UTF-8 before byte {}", self.pos))
    }
    fn opt_u32(&mut self) -> DecodeResult<Option<u32>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u32()?)),
            t => Err(format!("bad option tag {t}")),
        }
    }
    /// A count of items each at least `min_item` bytes: rejected if they cannot fit.
    fn count(&mut self, min_item: usize) -> DecodeResult<usize> {
        let n = self.u32()? as usize;
        let left = self.buf.len() - self.pos;
        if n.saturating_mul(min_item) > left {
            return Err(format!("count {n} cannot fit in the {left} bytes left"));
        }
        Ok(n)
    }
}

/// Encode a catalog at `generation` as a complete manifest file.
pub fn encode(catalog: &Catalog, generation: u64) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(4096));
    w.0.extend_from_slice(&catalog.token_key);
    w.u64(catalog.next_stream_uid);
    w.u32(catalog.streams.len() as u32);
    for s in catalog.streams.values() {
        encode_stream(&mut w, s);
    }
    w.u32(catalog.checkpoints.len() as u32);
    for c in &catalog.checkpoints {
        w.u64(c.stream_uid);
        w.str(&c.owner);
        w.u32(c.shard_index);
        w.str(&c.sequence_number);
        w.u8(u8::from(c.finished));
    }
    let body = w.0;
    let mut out = Vec::with_capacity(MANIFEST_HEADER_LEN + body.len() + 4);
    out.extend_from_slice(&MANIFEST_MAGIC);
    out.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn encode_stream(w: &mut Writer, s: &StreamMeta) {
    w.u64(s.uid);
    w.str(&s.name);
    w.i64(s.created_ms);
    match s.lifecycle {
        StreamLifecycle::Live => w.u8(0),
        StreamLifecycle::Deleting { since_ms } => {
            w.u8(1);
            w.i64(since_ms);
        }
    }
    w.i64(s.updated_ms);
    w.u32(s.retention_hours);
    w.u32(s.max_record_size_kib);
    w.u8(match s.mode {
        StreamMode::Provisioned => 0,
        StreamMode::OnDemand => 1,
    });
    w.u32(s.next_shard_index);
    match s.max_bytes {
        Some(b) => {
            w.u8(1);
            w.u64(b);
        }
        None => w.u8(0),
    }
    w.u32(s.tags.len() as u32);
    for (k, v) in &s.tags {
        w.str(k);
        w.str(v);
    }
    w.u32(s.shards.len() as u32);
    for sh in &s.shards {
        w.u32(sh.index);
        w.u128(sh.range.starting_hash_key);
        w.u128(sh.range.ending_hash_key);
        w.i64(sh.created_ms);
        w.opt_u32(sh.parent);
        w.opt_u32(sh.adjacent_parent);
        match sh.closed {
            Some(c) => {
                w.u8(1);
                w.i64(c.closed_ms);
                w.u64(c.end_offset);
            }
            None => w.u8(0),
        }
    }
    w.u32(s.consumers.len() as u32);
    for c in &s.consumers {
        w.str(&c.name);
        w.i64(c.created_ms);
    }
    w.u32(s.scaling_history_ms.len() as u32);
    for t in &s.scaling_history_ms {
        w.i64(*t);
    }
}

/// Decode a manifest file: `(generation, catalog)`. Any damage or inconsistency is an `Err`
/// describing it.
pub fn decode(bytes: &[u8]) -> DecodeResult<(u64, Catalog)> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(format!("manifest of {} bytes exceeds the limit", bytes.len()));
    }
    if bytes.len() < MANIFEST_HEADER_LEN + 4 {
        return Err(format!("{} bytes is shorter than a manifest header", bytes.len()));
    }
    let (content, crc) = bytes.split_at(bytes.len() - 4);
    let mut c = [0u8; 4];
    c.copy_from_slice(crc);
    if u32::from_le_bytes(c) != crc32fast::hash(content) {
        return Err("manifest CRC mismatch".into());
    }
    let mut r = Reader { buf: content, pos: 0 };
    if r.arr::<4>()? != MANIFEST_MAGIC {
        return Err("bad manifest magic".into());
    }
    let version = r.u16()?;
    if version != MANIFEST_VERSION {
        return Err(format!("unsupported manifest format version {version}"));
    }
    r.u16()?;
    let generation = r.u64()?;
    let body_len = r.u32()? as usize;
    if body_len != content.len() - MANIFEST_HEADER_LEN {
        return Err(format!("body length {body_len} does not match the file"));
    }
    let token_key = r.arr::<32>()?;
    let next_stream_uid = r.u64()?;
    let mut streams: BTreeMap<u64, StreamMeta> = BTreeMap::new();
    for _ in 0..r.count(40)? {
        let s = decode_stream(&mut r)?;
        if s.uid >= next_stream_uid {
            return Err(format!("stream uid {} not below the next uid {next_stream_uid}", s.uid));
        }
        if streams.values().any(|o| o.name == s.name) {
            return Err(format!("two streams are named {:?}", s.name));
        }
        if streams.insert(s.uid, s).is_some() {
            return Err("duplicate stream uid".into());
        }
    }
    let mut checkpoints = Vec::new();
    for _ in 0..r.count(21)? {
        let stream_uid = r.u64()?;
        let owner = r.str()?;
        let shard_index = r.u32()?;
        let sequence_number = r.str()?;
        let finished = match r.u8()? {
            0 => false,
            1 => true,
            t => return Err(format!("bad flag {t}")),
        };
        checkpoints.push(Checkpoint { stream_uid, owner, shard_index, sequence_number, finished });
    }
    if r.pos != content.len() {
        return Err(format!("{} trailing bytes", content.len() - r.pos));
    }
    Ok((generation, Catalog { token_key, next_stream_uid, streams, checkpoints }))
}

fn decode_stream(r: &mut Reader<'_>) -> DecodeResult<StreamMeta> {
    let uid = r.u64()?;
    let name = r.str()?;
    let created_ms = r.i64()?;
    let lifecycle = match r.u8()? {
        0 => StreamLifecycle::Live,
        1 => StreamLifecycle::Deleting { since_ms: r.i64()? },
        t => return Err(format!("bad lifecycle tag {t}")),
    };
    let updated_ms = r.i64()?;
    let retention_hours = r.u32()?;
    let max_record_size_kib = r.u32()?;
    let mode = match r.u8()? {
        0 => StreamMode::Provisioned,
        1 => StreamMode::OnDemand,
        t => return Err(format!("bad stream mode {t}")),
    };
    let next_shard_index = r.u32()?;
    let max_bytes = match r.u8()? {
        0 => None,
        1 => Some(r.u64()?),
        t => return Err(format!("bad option tag {t}")),
    };
    let mut tags = BTreeMap::new();
    for _ in 0..r.count(8)? {
        let k = r.str()?;
        tags.insert(k, r.str()?);
    }
    let mut shards: Vec<ShardMeta> = Vec::new();
    for _ in 0..r.count(47)? {
        let index = r.u32()?;
        let starting_hash_key = r.u128()?;
        let ending_hash_key = r.u128()?;
        let created_ms = r.i64()?;
        let parent = r.opt_u32()?;
        let adjacent_parent = r.opt_u32()?;
        let closed = match r.u8()? {
            0 => None,
            1 => Some(ShardClose { closed_ms: r.i64()?, end_offset: r.u64()? }),
            t => return Err(format!("bad option tag {t}")),
        };
        if starting_hash_key > ending_hash_key {
            return Err(format!("shard {index} has an inverted hash-key range"));
        }
        if index >= next_shard_index || shards.last().is_some_and(|p| p.index >= index) {
            return Err(format!("shard index {index} out of order or not below {next_shard_index}"));
        }
        shards.push(ShardMeta {
            index,
            range: HashKeyRange { starting_hash_key, ending_hash_key },
            created_ms,
            parent,
            adjacent_parent,
            closed,
        });
    }
    let mut consumers = Vec::new();
    for _ in 0..r.count(12)? {
        consumers.push(ConsumerMeta { name: r.str()?, created_ms: r.i64()? });
    }
    let mut scaling_history_ms = Vec::new();
    for _ in 0..r.count(8)? {
        scaling_history_ms.push(r.i64()?);
    }
    let s = StreamMeta {
        uid,
        name,
        created_ms,
        lifecycle,
        updated_ms,
        retention_hours,
        max_record_size_kib,
        mode,
        next_shard_index,
        tags,
        shards,
        consumers,
        max_bytes,
        scaling_history_ms,
    };
    check_stream(&s)?;
    check_tiling(&s)?;
    Ok(s)
}

/// Values the API can never have stored are damage too: a name, limit, tag or consumer it
/// would have refused, a stream without shards, a parent that is still open or younger.
fn check_stream(s: &StreamMeta) -> DecodeResult<()> {
    let id = s.uid;
    names::validate_stream_name(&s.name).map_err(|_| format!("stream {id}: invalid name {:?}", s.name))?;
    if !(DEFAULT_RETENTION_HOURS..=MAX_RETENTION_HOURS).contains(&s.retention_hours) {
        return Err(format!("stream {id}: retention of {} hours is out of range", s.retention_hours));
    }
    if !(DEFAULT_MAX_RECORD_KIB..=MAX_MAX_RECORD_KIB).contains(&s.max_record_size_kib) {
        return Err(format!("stream {id}: maximum record size of {} KiB is out of range", s.max_record_size_kib));
    }
    if s.shards.is_empty() {
        return Err(format!("stream {id} has no shards"));
    }
    if s.tags.len() > names::MAX_TAGS_PER_STREAM {
        return Err(format!("stream {id} has {} tags", s.tags.len()));
    }
    for (k, v) in &s.tags {
        let chars =
            names::validate_tag_characters(&s.name, "", names::TagChange::Add, [k.as_str(), v.as_str()].into_iter());
        if names::validate_tag_key(k).is_err() || names::validate_tag_value(v).is_err() || chars.is_err() {
            return Err(format!("stream {id}: invalid tag {k:?}"));
        }
    }
    if s.consumers.len() > MAX_CONSUMERS_PER_STREAM {
        return Err(format!("stream {id} has {} consumers", s.consumers.len()));
    }
    for (i, c) in s.consumers.iter().enumerate() {
        if names::validate_consumer_name(&c.name).is_err() || s.consumers.iter().take(i).any(|o| o.name == c.name) {
            return Err(format!("stream {id}: invalid or repeated consumer name {:?}", c.name));
        }
    }
    // A parent has a lower index and is closed; it may be gone (expired by retention).
    let parent_ok =
        |parent: u32, child: u32| parent < child && s.shards.iter().all(|p| p.index != parent || !p.is_open());
    for sh in &s.shards {
        let parents_ok = match (sh.parent, sh.adjacent_parent) {
            (None, None) => true,
            (Some(p), None) => parent_ok(p, sh.index),
            (Some(p), Some(a)) => p != a && parent_ok(p, sh.index) && parent_ok(a, sh.index),
            (None, Some(_)) => false,
        };
        if !parents_ok {
            return Err(format!("stream {id}: shard {} names an impossible parent", sh.index));
        }
    }
    Ok(())
}

/// The open shards of a live stream must tile the hash-key space exactly (a stream has shards:
/// [`check_stream`] ran first).
fn check_tiling(s: &StreamMeta) -> DecodeResult<()> {
    let mut expect: Option<u128> = Some(0);
    for sh in s.open_shards() {
        if expect != Some(sh.range.starting_hash_key) {
            return Err(format!("stream {}: open shards leave a gap or overlap at shard {}", s.uid, sh.index));
        }
        expect = sh.range.ending_hash_key.checked_add(1);
    }
    if expect.is_some() {
        return Err(format!("stream {}: open shards do not reach the end of the hash-key space", s.uid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinesis::even_split;

    pub(crate) fn sample() -> Catalog {
        let mut c = Catalog::new([7; 32]);
        let shards = even_split(3)
            .into_iter()
            .enumerate()
            .map(|(i, range)| ShardMeta {
                index: i as u32,
                range,
                created_ms: 1000,
                parent: None,
                adjacent_parent: None,
                closed: None,
            })
            .collect();
        let mut tags = BTreeMap::new();
        tags.insert("k".to_string(), "v".to_string());
        c.streams.insert(
            1,
            StreamMeta {
                uid: 1,
                name: "a.b".into(),
                created_ms: 1000,
                lifecycle: StreamLifecycle::Live,
                updated_ms: 1000,
                retention_hours: 24,
                max_record_size_kib: 1024,
                mode: StreamMode::Provisioned,
                next_shard_index: 3,
                tags,
                shards,
                consumers: vec![ConsumerMeta { name: "c".into(), created_ms: 5 }],
                max_bytes: Some(1 << 30),
                scaling_history_ms: vec![5, 6],
            },
        );
        c.next_stream_uid = 2;
        c.checkpoints.push(Checkpoint {
            stream_uid: 1,
            owner: "esm".into(),
            shard_index: 1,
            sequence_number: "49".into(),
            finished: true,
        });
        c
    }

    #[test]
    fn round_trip() {
        let c = sample();
        let b = encode(&c, 42);
        assert_eq!(decode(&b), Ok((42, c)));
    }

    #[test]
    fn damage_is_rejected() {
        let b = encode(&sample(), 1);
        for i in (0..b.len()).step_by(3) {
            let mut bad = b.clone();
            bad[i] ^= 0x20;
            assert!(decode(&bad).is_err(), "flip at {i} accepted");
        }
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err());
        }
    }

    #[test]
    fn gaps_in_open_shards_are_rejected() {
        let mut c = sample();
        if let Some(s) = c.streams.get_mut(&1) {
            s.shards.remove(1);
        }
        assert!(decode(&encode(&c, 1)).unwrap_err().contains("gap"));
    }

    /// Every value the API would have refused makes the manifest damaged (found by the
    /// `manifest` fuzz target: a manifest with the names `""` and `"\0"` opened, and a clean
    /// close + reopen changed which streams were listed).
    #[test]
    fn values_the_api_refuses_are_rejected() {
        type Edit = Box<dyn Fn(&mut Catalog)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("invalid name", Box::new(|c| stream(c).name = "\0".into())),
            ("invalid name", Box::new(|c| stream(c).name = String::new())),
            ("retention", Box::new(|c| stream(c).retention_hours = 0)),
            ("retention", Box::new(|c| stream(c).retention_hours = 8761)),
            ("record size", Box::new(|c| stream(c).max_record_size_kib = 1023)),
            ("no shards", Box::new(|c| stream(c).shards.clear())),
            ("tag", Box::new(|c| drop(stream(c).tags.insert(String::new(), "v".into())))),
            ("consumer name", Box::new(|c| stream(c).consumers.push(ConsumerMeta { name: "c".into(), created_ms: 6 }))),
            ("consumer name", Box::new(|c| stream(c).consumers[0].name = "a/b".into())),
            ("parent", Box::new(|c| stream(c).shards[2].parent = Some(0))),
            ("parent", Box::new(|c| stream(c).shards[1].parent = Some(7))),
            ("parent", Box::new(|c| stream(c).shards[2].adjacent_parent = Some(1))),
            (
                "two streams are named",
                Box::new(|c| {
                    let mut other = stream(c).clone();
                    other.uid = 2;
                    c.next_stream_uid = 3;
                    c.streams.insert(2, other);
                }),
            ),
        ];
        for (what, edit) in cases {
            let mut c = sample();
            edit(&mut c);
            let err = decode(&encode(&c, 1)).expect_err(what);
            let name_ok = ["parent", "consumer", "tag", "name", "retention", "size", "shards", "named"];
            assert!(name_ok.iter().any(|w| err.contains(w)), "{what}: {err}");
        }
        assert!(decode(&encode(&sample(), 1)).is_ok());
    }

    fn stream(c: &mut Catalog) -> &mut StreamMeta {
        c.streams.get_mut(&1).expect("sample stream 1")
    }
}
