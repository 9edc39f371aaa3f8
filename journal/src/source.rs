//! Where a journal can be read back from, so that code which tails a journal (the
//! sequencer's publisher, an engine catching up) runs over files and, in the simulator, over
//! [`MemStorage`].

use std::path::{Path, PathBuf};

use crate::error::ReadError;
use crate::mem_reader::MemReader;
use crate::mem_storage::MemStorage;
use crate::reader::{Reader, RecordRef};
use crate::storage::FileStorage;

/// A reader positioned in a journal: [`Reader`] or [`MemReader`].
pub trait Records: std::fmt::Debug {
    /// The next committed record, verified; `None` when caught up with the writer.
    fn next_record(&mut self) -> Result<Option<RecordRef<'_>>, ReadError>;
    /// The sequence number `next_record()` returns next.
    fn next_seq(&self) -> u64;
}

impl Records for Reader {
    #[inline]
    fn next_record(&mut self) -> Result<Option<RecordRef<'_>>, ReadError> {
        self.next()
    }

    fn next_seq(&self) -> u64 {
        Reader::next_seq(self)
    }
}

impl Records for MemReader {
    fn next_record(&mut self) -> Result<Option<RecordRef<'_>>, ReadError> {
        self.next()
    }

    fn next_seq(&self) -> u64 {
        MemReader::next_seq(self)
    }
}

/// A journal readers can be opened on.
pub trait ReadJournal {
    /// The reader it opens.
    type Records: Records;
    /// A reader whose first record is `seq` (at most `committed_seq + 1`).
    fn read_from(&self, seq: u64) -> Result<Self::Records, ReadError>;
}

impl ReadJournal for Path {
    type Records = Reader;
    fn read_from(&self, seq: u64) -> Result<Reader, ReadError> {
        Reader::open_at(self, seq)
    }
}

impl ReadJournal for PathBuf {
    type Records = Reader;
    fn read_from(&self, seq: u64) -> Result<Reader, ReadError> {
        Reader::open_at(self, seq)
    }
}

impl ReadJournal for FileStorage {
    type Records = Reader;
    fn read_from(&self, seq: u64) -> Result<Reader, ReadError> {
        Reader::open_at(self.dir(), seq)
    }
}

impl ReadJournal for MemStorage {
    type Records = MemReader;
    fn read_from(&self, seq: u64) -> Result<MemReader, ReadError> {
        MemReader::open_at(self, seq)
    }
}
