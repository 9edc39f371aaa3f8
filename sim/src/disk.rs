//! The sequencer's disk: a [`MemStorage`] (live and durable bytes apart) whose next sync can
//! be made to fail as if the power went out during it, leaving the record just written
//! un-synced for the crash to lose or tear.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use journal::{MemReader, MemRegion, MemStorage, ReadError, ReadJournal, Region, Storage};

/// See the module documentation. Clones share the disk.
#[derive(Debug, Clone, Default)]
pub struct SimDisk {
    pub(crate) mem: MemStorage,
    power_fails_at_next_sync: Rc<Cell<bool>>,
}

impl SimDisk {
    /// The next sync fails (and so does every later one, until the power comes back).
    pub(crate) fn fail_next_sync(&self) {
        self.power_fails_at_next_sync.set(true);
    }

    pub(crate) fn power_restored(&self) {
        self.power_fails_at_next_sync.set(false);
    }

    pub(crate) fn failing(&self) -> bool {
        self.power_fails_at_next_sync.get()
    }
}

/// A file of a [`SimDisk`].
#[derive(Debug)]
pub struct SimRegion {
    inner: MemRegion,
    power_fails: Rc<Cell<bool>>,
}

impl Region for SimRegion {
    fn bytes(&self) -> &[u8] {
        self.inner.bytes()
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        self.inner.bytes_mut()
    }

    fn sync(&mut self, offset: usize, len: usize) -> io::Result<()> {
        if self.power_fails.get() {
            return Err(io::Error::other("simulated power loss during sync"));
        }
        self.inner.sync(offset, len)
    }

    fn store_u64_release(&mut self, offset: usize, value: u64) {
        self.inner.store_u64_release(offset, value);
    }

    fn written(&mut self, offset: usize, len: usize) {
        self.inner.written(offset, len);
    }
}

impl SimDisk {
    fn wrap(&self, inner: MemRegion) -> SimRegion {
        SimRegion {
            inner,
            power_fails: Rc::clone(&self.power_fails_at_next_sync),
        }
    }
}

impl Storage for SimDisk {
    type Region = SimRegion;
    type ReadRegion = Vec<u8>;

    fn list_segments(&mut self) -> io::Result<Vec<u64>> {
        self.mem.list_segments()
    }

    fn create_segment(&mut self, first_seq: u64, len: u64) -> io::Result<SimRegion> {
        let region = self.mem.create_segment(first_seq, len)?;
        Ok(self.wrap(region))
    }

    fn open_segment(&mut self, first_seq: u64) -> io::Result<SimRegion> {
        let region = self.mem.open_segment(first_seq)?;
        Ok(self.wrap(region))
    }

    fn open_segment_read(&mut self, first_seq: u64) -> io::Result<Vec<u8>> {
        self.mem.open_segment_read(first_seq)
    }

    fn remove_segment(&mut self, first_seq: u64) -> io::Result<()> {
        self.mem.remove_segment(first_seq)
    }

    fn open_meta(&mut self) -> io::Result<Option<SimRegion>> {
        Ok(self.mem.open_meta()?.map(|region| self.wrap(region)))
    }

    fn open_meta_read(&mut self) -> io::Result<Option<Vec<u8>>> {
        self.mem.open_meta_read()
    }

    fn create_meta(&mut self, len: u64) -> io::Result<SimRegion> {
        let region = self.mem.create_meta(len)?;
        Ok(self.wrap(region))
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        if self.power_fails_at_next_sync.get() {
            return Err(io::Error::other("simulated power loss during sync"));
        }
        self.mem.sync_dir()
    }

    fn segment_display(&self, first_seq: u64) -> String {
        self.mem.segment_display(first_seq)
    }
}

impl ReadJournal for SimDisk {
    type Records = MemReader;

    fn read_from(&self, seq: u64) -> Result<MemReader, ReadError> {
        MemReader::open_at(&self.mem, seq)
    }
}
