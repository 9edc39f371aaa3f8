//! A reader of a [`MemStorage`] journal: what [`Reader`](crate::Reader) is to a directory,
//! for the simulator. It sees what the writer published (committed records), never more, and
//! verifies every record it returns (CRC, sequence, chain link) like the file reader.

use crate::error::{CorruptError, CorruptReason, ReadError};
use crate::format::{
    META_COMMITTED_SEQ_OFFSET, META_DURABLE_SEQ_OFFSET, META_FILE_NAME, SEGMENT_HEADER_SIZE,
    meta_header_valid, segment_file_name,
};
use crate::index::{holds_committed, hop};
use crate::mem_storage::MemStorage;
use crate::reader::RecordRef;
use crate::scan::{Check, Link, check_at, check_segment_start};
use crate::storage::Storage;

/// Tails a [`MemStorage`] journal.
#[derive(Debug)]
pub struct MemReader {
    storage: MemStorage,
    segment_first_seq: u64,
    segment_index: u64,
    /// Offset just past the last verified record.
    offset: usize,
    last: Link,
    /// The body of the record `next()` returned last (copied out of the shared bytes).
    body: Vec<u8>,
}

fn word(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"))
}

fn corrupt(first_seq: u64, offset: usize, seq: u64, reason: CorruptReason) -> ReadError {
    ReadError::Corrupt(CorruptError {
        segment: segment_file_name(first_seq),
        offset: offset as u64,
        seq,
        reason,
    })
}

impl MemReader {
    /// A reader whose first `next()` returns record `seq` (once it is committed); `seq` may be
    /// at most `committed_seq + 1`, as for [`Reader::open_at`](crate::Reader::open_at).
    pub fn open_at(storage: &MemStorage, seq: u64) -> Result<MemReader, ReadError> {
        let seq = seq.max(1);
        let committed = committed_seq(storage)?;
        if seq > committed + 1 {
            return Err(ReadError::NotYetWritten { seq, committed });
        }
        let segments = storage
            .clone()
            .list_segments()
            .map_err(crate::error::read_io("listing segments"))?;
        let Some(&first_seq) = segments
            .iter()
            .rev()
            .find(|&&first| first <= seq && holds_committed(first, committed))
        else {
            if committed == 0 {
                return Err(ReadError::NotYetWritten { seq, committed });
            }
            let reason = CorruptReason::MissingSegment { first_seq: seq };
            return Err(corrupt(seq, 0, seq, reason));
        };
        let name = segment_file_name(first_seq);
        let opened = storage.with_file(&name, |segment| {
            let start = check_segment_start(segment, first_seq, None)
                .map_err(|reason| corrupt(first_seq, 0, first_seq, reason))?;
            let hopped = hop(
                segment,
                SEGMENT_HEADER_SIZE,
                start.link,
                seq,
                committed,
                |_, _| {},
            )
            .map_err(|(offset, link, reason)| corrupt(first_seq, offset, link.seq + 1, reason))?;
            Ok((start.index, hopped))
        });
        let reason = CorruptReason::MissingSegment { first_seq };
        let (segment_index, hopped) =
            opened.unwrap_or_else(|| Err(corrupt(first_seq, 0, first_seq, reason)))?;
        Ok(MemReader {
            storage: storage.clone(),
            segment_first_seq: first_seq,
            segment_index,
            offset: hopped.offset,
            last: hopped.link,
            body: Vec::new(),
        })
    }

    /// The writer's published committed sequence number.
    pub fn committed_seq(&self) -> Result<u64, ReadError> {
        committed_seq(&self.storage)
    }

    /// The writer's published durable sequence number.
    pub fn durable_seq(&self) -> Result<u64, ReadError> {
        self.storage
            .with_file(META_FILE_NAME, |meta| word(meta, META_DURABLE_SEQ_OFFSET))
            .ok_or(ReadError::BadMeta)
    }

    /// The sequence number `next()` returns next.
    pub fn next_seq(&self) -> u64 {
        self.last.seq + 1
    }

    /// The next committed record, verified; `None` when the reader has caught up.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<RecordRef<'_>>, ReadError> {
        let committed = self.committed_seq()?;
        if self.last.seq >= committed {
            return Ok(None);
        }
        for _ in 0..2 {
            let name = segment_file_name(self.segment_first_seq);
            let (offset, last) = (self.offset, self.last);
            let body = &mut self.body;
            let check = self.storage.with_file(&name, |segment| {
                let check = check_at(segment, offset, last);
                if let Check::Valid(info) = &check {
                    body.clear();
                    body.extend_from_slice(info.body(segment));
                }
                check
            });
            let first_seq = self.segment_first_seq;
            let missing = CorruptReason::MissingSegment { first_seq };
            match check.ok_or_else(|| corrupt(first_seq, 0, first_seq, missing))? {
                Check::Valid(info) => {
                    self.last = info.link();
                    self.offset = info.offset + info.size;
                    return Ok(Some(RecordRef {
                        seq: info.seq,
                        timestamp_ns: info.timestamp_ns,
                        kind: info.kind,
                        body: &self.body,
                    }));
                }
                Check::End => self.roll()?,
                Check::Invalid(reason) => {
                    return Err(corrupt(first_seq, offset, last.seq + 1, reason));
                }
            }
        }
        let reason = CorruptReason::EndsEarly {
            last: self.last.seq,
            expected: committed,
        };
        Err(corrupt(
            self.segment_first_seq,
            self.offset,
            self.last.seq + 1,
            reason,
        ))
    }

    fn roll(&mut self) -> Result<(), ReadError> {
        let first_seq = self.last.seq + 1;
        let previous = Some((self.segment_index, self.last));
        let start = self
            .storage
            .with_file(&segment_file_name(first_seq), |segment| {
                check_segment_start(segment, first_seq, previous)
            })
            .unwrap_or(Err(CorruptReason::MissingSegment { first_seq }))
            .map_err(|reason| corrupt(first_seq, 0, first_seq, reason))?;
        self.segment_first_seq = first_seq;
        self.segment_index = start.index;
        self.offset = SEGMENT_HEADER_SIZE;
        Ok(())
    }
}

fn committed_seq(storage: &MemStorage) -> Result<u64, ReadError> {
    storage
        .with_file(META_FILE_NAME, |meta| {
            meta_header_valid(meta).then(|| word(meta, META_COMMITTED_SEQ_OFFSET))
        })
        .flatten()
        .ok_or(ReadError::BadMeta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::RecordKind;
    use crate::mem_storage::CrashMode;
    use crate::writer::{Config, Durability, Writer};

    fn config(durability: Durability) -> Config {
        Config {
            segment_size_bytes: crate::limits::SEGMENT_SIZE_BYTES_MIN,
            durability,
            ..Config::default()
        }
    }

    fn bodies(reader: &mut MemReader) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| reader.next().unwrap().map(|r| r.body.to_vec())).collect()
    }

    #[test]
    fn reads_what_an_open_writer_published_across_segments() {
        let storage = MemStorage::new();
        let mut writer = Writer::open_with(storage.clone(), config(Durability::None)).unwrap();
        let mut reader = MemReader::open_at(&storage, 1).unwrap();
        assert_eq!(reader.next().unwrap(), None);
        let body = [7u8; 1000];
        for i in 0..300u64 {
            let _ = writer.append(i, RecordKind::COMMAND, &body).unwrap();
        }
        assert!(storage.file_names().len() > 2, "the writer rolled segments");
        let read = bodies(&mut reader);
        assert_eq!(read.len(), 300);
        assert_eq!(reader.next_seq(), 301);
        let mut middle = MemReader::open_at(&storage, 200).unwrap();
        assert_eq!(middle.next().unwrap().map(|r| r.seq), Some(200));
        assert!(matches!(
            MemReader::open_at(&storage, 302),
            Err(ReadError::NotYetWritten { .. })
        ));
    }

    #[test]
    fn a_power_loss_keeps_the_synced_records_for_readers_and_the_next_writer() {
        let storage = MemStorage::new();
        let mut writer = Writer::open_with(storage.clone(), config(Durability::None)).unwrap();
        for i in 0..10u64 {
            let _ = writer.append(i, RecordKind::COMMAND, b"synced").unwrap();
        }
        writer.sync().unwrap();
        for i in 10..15u64 {
            let _ = writer.append(i, RecordKind::COMMAND, b"lost").unwrap();
        }
        drop(writer);
        storage.power_loss(CrashMode::DropUnsynced);
        let writer = Writer::open_with(storage.clone(), config(Durability::None)).unwrap();
        assert_eq!(writer.last_seq(), 10);
        assert_eq!(
            bodies(&mut MemReader::open_at(&storage, 1).unwrap()).len(),
            10
        );
    }

    #[test]
    fn a_flipped_bit_is_reported_with_its_position() {
        let storage = MemStorage::new();
        let mut writer = Writer::open_with(storage.clone(), config(Durability::Every)).unwrap();
        for i in 0..10u64 {
            let _ = writer
                .append(i, RecordKind::COMMAND, b"0123456789")
                .unwrap();
        }
        drop(writer);
        let offset = SEGMENT_HEADER_SIZE + 3 * crate::format::record_size(10) + 40;
        storage.corrupt(&segment_file_name(1), offset, 0x10);
        let mut reader = MemReader::open_at(&storage, 1).unwrap();
        for _ in 0..3 {
            assert!(reader.next().unwrap().is_some());
        }
        let Err(ReadError::Corrupt(error)) = reader.next() else {
            panic!("the flip is found");
        };
        assert_eq!((error.seq, error.offset), (4, offset as u64 - 40));
    }
}
