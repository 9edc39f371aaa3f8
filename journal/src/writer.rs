//! The writer: appends records, rolls segments, applies the durability policy and publishes
//! its progress for readers.

use std::path::Path;

use zerocopy::IntoBytes;

use crate::error::{AppendError, OpenError, SyncError};
use crate::format::{
    Checkpoint, META_COMMITTED_SEQ_OFFSET, META_DURABLE_SEQ_OFFSET, RecordFields, RecordKind,
    SEGMENT_HEADER_SIZE, encode_record, record_size, segment_header,
};
use crate::limits::{BODY_SIZE_MAX, SEGMENT_SIZE_BYTES_MAX, SEGMENT_SIZE_BYTES_MIN};
use crate::recovery::{RecordPos, RecoveryMode, RecoveryReport, recover, write_checkpoint};
use crate::scan::{Link, SEQ_END};
use crate::storage::{FileStorage, Region, Storage};

/// When appended records become durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The OS writes pages back when it likes; only [`Writer::sync`] and [`Writer::close`]
    /// guarantee durability. A process crash loses nothing; a power loss loses an unbounded
    /// suffix.
    None,
    /// Group commit: sync once `records_max` records are un-synced, or once the oldest
    /// un-synced record is `delay_ns_max` old by the caller's clock (checked on each append
    /// against its timestamp, and by [`Writer::tick`] when no append arrives).
    Group {
        /// Un-synced records that force a sync.
        records_max: u32,
        /// Age of the oldest un-synced record that forces a sync, in the timestamps' unit.
        delay_ns_max: u64,
    },
    /// Sync before every append returns.
    Every,
}

impl Default for Durability {
    fn default() -> Self {
        Durability::Group {
            records_max: 256,
            delay_ns_max: 1_000_000,
        }
    }
}

/// Writer configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Size of each preallocated segment file, in bytes.
    pub segment_size_bytes: u64,
    /// The durability policy.
    pub durability: Durability,
    /// How recovery treats an invalid record that valid records follow.
    pub recovery: RecoveryMode,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            segment_size_bytes: 64 * 1024 * 1024,
            durability: Durability::default(),
            recovery: RecoveryMode::Strict,
        }
    }
}

impl Config {
    fn validate(&self) -> Result<(), OpenError> {
        let size = self.segment_size_bytes;
        if !(SEGMENT_SIZE_BYTES_MIN..=SEGMENT_SIZE_BYTES_MAX).contains(&size)
            || !size.is_multiple_of(8)
        {
            return Err(OpenError::Config(format!(
                "segment_size_bytes {size} must be a multiple of 8 in \
                 {SEGMENT_SIZE_BYTES_MIN}..={SEGMENT_SIZE_BYTES_MAX}"
            )));
        }
        if let Durability::Group { records_max: 0, .. } = self.durability {
            return Err(OpenError::Config(
                "group records_max must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// What `append` promises about the record it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct AppendReceipt {
    /// The record's sequence number.
    pub seq: u64,
    /// Whether the record is already durable; if not, [`Writer::wait_durable`] makes it so.
    pub durable: bool,
}

/// Sync bookkeeping.
#[derive(Debug)]
struct SyncState<R> {
    durable_seq: u64,
    /// Offset in the current segment from which bytes may be un-synced.
    synced_to: usize,
    unsynced_records: u32,
    oldest_unsynced_ns: u64,
    /// Segments rolled away from under `Durability::None` whose bytes are not synced yet.
    rolled: Vec<R>,
    /// A segment file was created without syncing the directory (under `Durability::None`).
    dir_unsynced: bool,
    checkpoint_generation: u64,
}

/// The single writer of a journal directory.
///
/// Dropping a writer without [`Writer::close`] is a crash as far as durability is concerned:
/// nothing more is synced.
#[derive(Debug)]
pub struct Writer<S: Storage> {
    storage: S,
    config: Config,
    meta: S::Region,
    segment: S::Region,
    segment_first_seq: u64,
    segment_index: u64,
    offset: usize,
    last: Link,
    last_record: Option<RecordPos>,
    sync: SyncState<S::Region>,
    poisoned: bool,
    report: RecoveryReport,
}

impl Writer<FileStorage> {
    /// Opens (recovering) or creates the journal in `dir`, mapping files with `memmap2`.
    pub fn open(dir: &Path, config: Config) -> Result<Self, OpenError> {
        let storage = FileStorage::create(dir)
            .map_err(crate::error::open_io("creating the journal directory"))?;
        Writer::open_with(storage, config)
    }
}

impl<S: Storage> Writer<S> {
    /// Opens (recovering) or creates the journal held by `storage`.
    pub fn open_with(mut storage: S, config: Config) -> Result<Self, OpenError> {
        config.validate()?;
        let recovered = recover(&mut storage, config.segment_size_bytes, config.recovery)?;
        let segment_len = recovered.segment.bytes().len();
        assert!(
            recovered.end <= segment_len,
            "recovery ends inside its segment"
        );
        Ok(Writer {
            storage,
            config,
            meta: recovered.meta,
            segment: recovered.segment,
            segment_first_seq: recovered.segment_first_seq,
            segment_index: recovered.segment_index,
            offset: recovered.end,
            last: recovered.last,
            last_record: recovered.last_record,
            sync: SyncState {
                durable_seq: recovered.last.seq,
                synced_to: recovered.end,
                unsynced_records: 0,
                oldest_unsynced_ns: 0,
                rolled: Vec::new(),
                dir_unsynced: false,
                checkpoint_generation: recovered.checkpoint_generation,
            },
            poisoned: false,
            report: recovered.report,
        })
    }

    /// What recovery found and did when this writer opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The sequence number the next append gets.
    pub fn next_seq(&self) -> u64 {
        self.last.seq + 1
    }

    /// The last appended sequence number (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.last.seq
    }

    /// Every record up to this sequence number is durable.
    pub fn durable_seq(&self) -> u64 {
        self.sync.durable_seq
    }

    /// The storage it writes to (to open readers on it).
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The configuration the writer runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Appends a record with the next sequence number. `timestamp_ns` is the sequencer's stamp
    /// (the journal keeps no clock). Returns once the durability policy holds for the record;
    /// the receipt says whether it is durable yet. The record is visible to readers at once.
    #[inline]
    pub fn append(
        &mut self,
        timestamp_ns: u64,
        kind: RecordKind,
        body: &[u8],
    ) -> Result<AppendReceipt, AppendError> {
        if self.poisoned {
            return Err(SyncError::Poisoned.into());
        }
        if body.len() > BODY_SIZE_MAX {
            return Err(AppendError::BodyTooLarge {
                len: body.len(),
                max: BODY_SIZE_MAX,
            });
        }
        if self.last.seq + 1 == SEQ_END {
            return Err(AppendError::SeqExhausted {
                last: self.last.seq,
            });
        }
        let size = record_size(body.len());
        if self.offset + size > self.segment.bytes().len() {
            // A half-done roll (say, the file created but its header not synced) is left for
            // recovery to sort out: reopen.
            self.roll().inspect_err(|_| self.poisoned = true)?;
        }
        let seq = self.last.seq + 1;
        let fields = RecordFields {
            seq,
            timestamp_ns,
            kind,
            prev_crc: self.last.crc,
        };
        let offset = self.offset;
        let crc = encode_record(
            &mut self.segment.bytes_mut()[offset..offset + size],
            fields,
            body,
        );
        self.segment.written(offset, size);
        self.last = Link { seq, crc };
        self.last_record = Some(RecordPos {
            segment_first_seq: self.segment_first_seq,
            offset,
        });
        self.offset = offset + size;
        self.meta.store_u64_release(META_COMMITTED_SEQ_OFFSET, seq);
        self.after_records(timestamp_ns, timestamp_ns, 1)?;
        Ok(AppendReceipt {
            seq,
            durable: self.sync.durable_seq >= seq,
        })
    }

    /// Appends `records` (`(timestamp_ns, kind, body)` each) with consecutive sequence
    /// numbers, as the same number of [`Writer::append`] calls would, byte for byte.
    /// `committed_seq` is published once per batch (once per segment when the batch rolls),
    /// so readers see the batch's records together, and the checks and durability
    /// bookkeeping are paid once per batch. The durability policy is applied to the batch as a whole: under
    /// `Every` one sync covers it; under `Group` it counts as `records.len()` records.
    ///
    /// Returns the receipt of the last record (`seq` is the last sequence number; the first
    /// is `seq + 1 - records.len()`). An empty batch appends nothing and returns the last
    /// appended record's receipt. Bodies are checked before anything is written: a body over
    /// `BODY_SIZE_MAX` fails the whole batch with nothing appended.
    pub fn append_batch(
        &mut self,
        records: &[(u64, RecordKind, &[u8])],
    ) -> Result<AppendReceipt, AppendError> {
        if self.poisoned {
            return Err(SyncError::Poisoned.into());
        }
        if let Some(&(_, _, body)) = records.iter().find(|r| r.2.len() > BODY_SIZE_MAX) {
            return Err(AppendError::BodyTooLarge {
                len: body.len(),
                max: BODY_SIZE_MAX,
            });
        }
        let count = u64::try_from(records.len()).unwrap_or(u64::MAX);
        if SEQ_END - self.last.seq <= count {
            return Err(AppendError::SeqExhausted {
                last: self.last.seq,
            });
        }
        let mut rest = records;
        while let Some(&(first_timestamp_ns, _, _)) = rest.first() {
            let room = self.segment.bytes().len() - self.offset;
            let mut used = 0;
            let fit = rest
                .iter()
                .take_while(|&&(_, _, body)| {
                    used += record_size(body.len());
                    used <= room
                })
                .count();
            if fit == 0 {
                self.roll().inspect_err(|_| self.poisoned = true)?;
                continue;
            }
            let (chunk, later) = rest.split_at(fit);
            self.write_unpublished(chunk);
            self.meta
                .store_u64_release(META_COMMITTED_SEQ_OFFSET, self.last.seq);
            let last_timestamp_ns = chunk[fit - 1].0;
            self.after_records(first_timestamp_ns, last_timestamp_ns, fit)?;
            rest = later;
        }
        Ok(AppendReceipt {
            seq: self.last.seq,
            durable: self.sync.durable_seq >= self.last.seq,
        })
    }

    /// Writes `records` after the last one in the current segment (the caller checked they
    /// fit) and advances the writer's position. Does not publish.
    ///
    /// Records are encoded one after another with the one-pass kernel: consecutive records'
    /// CRCs already overlap in the CPU (only the final step links them), and encoding four
    /// at a time with interleaved CRCs measured slower (see `docs/journal-format.md`).
    fn write_unpublished(&mut self, records: &[(u64, RecordKind, &[u8])]) {
        let segment = self.segment.bytes_mut();
        let mut offset = self.offset;
        let mut last = self.last;
        let mut last_offset = offset;
        for &(timestamp_ns, kind, body) in records {
            let size = record_size(body.len());
            let fields = RecordFields {
                seq: last.seq + 1,
                timestamp_ns,
                kind,
                prev_crc: last.crc,
            };
            let crc = encode_record(&mut segment[offset..offset + size], fields, body);
            last = Link {
                seq: fields.seq,
                crc,
            };
            (last_offset, offset) = (offset, offset + size);
        }
        self.segment.written(self.offset, offset - self.offset);
        self.last = last;
        self.last_record = Some(RecordPos {
            segment_first_seq: self.segment_first_seq,
            offset: last_offset,
        });
        self.offset = offset;
    }

    /// Appends at an expected sequence number (a backup replaying its primary's log): fails
    /// with [`AppendError::SeqMismatch`] unless `seq` is [`Writer::next_seq`].
    pub fn append_at(
        &mut self,
        seq: u64,
        timestamp_ns: u64,
        kind: RecordKind,
        body: &[u8],
    ) -> Result<AppendReceipt, AppendError> {
        if seq != self.next_seq() {
            return Err(AppendError::SeqMismatch {
                offered: seq,
                expected: self.next_seq(),
            });
        }
        self.append(timestamp_ns, kind, body)
    }

    /// Applies the durability policy after `count` records stamped `first_timestamp_ns` ..
    /// `last_timestamp_ns` were appended and published.
    #[inline]
    fn after_records(
        &mut self,
        first_timestamp_ns: u64,
        last_timestamp_ns: u64,
        count: usize,
    ) -> Result<(), SyncError> {
        match self.config.durability {
            Durability::None => Ok(()),
            Durability::Every => self.sync(),
            Durability::Group {
                records_max,
                delay_ns_max,
            } => {
                if self.sync.unsynced_records == 0 {
                    self.sync.oldest_unsynced_ns = first_timestamp_ns;
                }
                let count = u32::try_from(count).unwrap_or(u32::MAX);
                self.sync.unsynced_records = self.sync.unsynced_records.saturating_add(count);
                let age = last_timestamp_ns.saturating_sub(self.sync.oldest_unsynced_ns);
                if self.sync.unsynced_records >= records_max || age >= delay_ns_max {
                    self.sync()
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The group-commit duty: syncs when the oldest un-synced record is at least
    /// `delay_ns_max` older than `now_ns` (same clock as the timestamps). Call it from the
    /// owner's duty cycle so a quiet period still makes records durable. Returns the number
    /// of records made durable (0: nothing was due), like an agent's `do_work`.
    pub fn tick(&mut self, now_ns: u64) -> Result<u64, SyncError> {
        let Durability::Group { delay_ns_max, .. } = self.config.durability else {
            return Ok(0);
        };
        let due = self.sync.unsynced_records > 0
            && now_ns.saturating_sub(self.sync.oldest_unsynced_ns) >= delay_ns_max;
        if !due {
            return Ok(0);
        }
        let before = self.sync.durable_seq;
        self.sync()?;
        Ok(self.sync.durable_seq - before)
    }

    /// Makes every record up to `seq` durable (syncing if needed).
    pub fn wait_durable(&mut self, seq: u64) -> Result<(), SyncError> {
        if seq <= self.sync.durable_seq {
            Ok(())
        } else {
            self.sync()
        }
    }

    /// Makes every appended record durable: syncs the written bytes (and segments rolled
    /// since), then records a checkpoint in the metadata file and publishes `durable_seq`.
    pub fn sync(&mut self) -> Result<(), SyncError> {
        if self.poisoned {
            return Err(SyncError::Poisoned);
        }
        if self.sync.durable_seq == self.last.seq {
            return Ok(());
        }
        let result = self.sync_inner();
        self.poisoned = result.is_err();
        result
    }

    fn sync_inner(&mut self) -> Result<(), SyncError> {
        for mut rolled in self.sync.rolled.drain(..) {
            let len = rolled.bytes().len();
            rolled.sync(0, len)?;
        }
        let synced_to = self.sync.synced_to.min(self.offset);
        self.segment.sync(synced_to, self.offset - synced_to)?;
        if self.sync.dir_unsynced {
            // The checkpoint may name a segment whose directory entry is not durable yet.
            self.storage.sync_dir()?;
            self.sync.dir_unsynced = false;
        }
        self.sync.synced_to = self.offset;
        let record = self
            .last_record
            .expect("last.seq > durable_seq implies a record");
        self.sync.checkpoint_generation += 1;
        let checkpoint = Checkpoint {
            generation: self.sync.checkpoint_generation,
            seq: self.last.seq,
            segment_first_seq: record.segment_first_seq,
            record_offset: record.offset as u64,
            record_crc: self.last.crc,
        };
        write_checkpoint(&mut self.meta, &checkpoint)?;
        self.meta
            .store_u64_release(META_DURABLE_SEQ_OFFSET, self.last.seq);
        self.sync.durable_seq = self.last.seq;
        self.sync.unsynced_records = 0;
        Ok(())
    }

    /// Starts the next segment. Under `Group` and `Every` the old segment is synced first and
    /// the new one's header and directory entry are made durable before any record goes in.
    fn roll(&mut self) -> Result<(), AppendError> {
        let syncing = self.config.durability != Durability::None;
        if syncing {
            self.sync()?;
        }
        let first_seq = self.last.seq + 1;
        let index = self.segment_index + 1;
        let size = self.config.segment_size_bytes;
        let mut segment = self
            .storage
            .create_segment(first_seq, size)
            .map_err(AppendError::Roll)?;
        segment.bytes_mut()[..SEGMENT_HEADER_SIZE]
            .copy_from_slice(segment_header(index, first_seq, self.last.crc, size).as_bytes());
        segment.written(0, SEGMENT_HEADER_SIZE);
        if syncing {
            segment
                .sync(0, SEGMENT_HEADER_SIZE)
                .map_err(AppendError::Roll)?;
            self.storage.sync_dir().map_err(AppendError::Roll)?;
        } else {
            self.sync.dir_unsynced = true;
        }
        let old = std::mem::replace(&mut self.segment, segment);
        if self.sync.durable_seq < self.last.seq {
            self.sync.rolled.push(old);
        }
        self.segment_first_seq = first_seq;
        self.segment_index = index;
        self.offset = SEGMENT_HEADER_SIZE;
        self.sync.synced_to = 0;
        Ok(())
    }

    /// Syncs everything and releases the files. A clean close leaves nothing for recovery.
    pub fn close(mut self) -> Result<S, SyncError> {
        self.sync()?;
        self.storage.sync_dir()?;
        Ok(self.storage)
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
