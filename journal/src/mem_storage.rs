//! An in-memory [`Storage`] that keeps live and durable bytes apart, so tests and the
//! deterministic simulator can crash the journal and reopen it from what a disk would hold.
//! Seedable and clock-free. [`MemReader`](crate::MemReader) reads what its writer published.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::format::{META_FILE_NAME, parse_segment_file_name, segment_file_name};
use crate::storage::{Region, Storage, page_range};

/// Granularity at which [`CrashMode::TornSectors`] persists or loses un-synced bytes.
const SECTOR_SIZE: usize = 512;

/// What survives a simulated crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Only bytes covered by a `sync` survive; un-synced file creations are lost.
    DropUnsynced,
    /// Each dirty 512-byte sector independently survives or not, each un-synced file creation
    /// survives or not, decided by a generator seeded with `seed` (writes land out of order).
    TornSectors {
        /// Seed of the deterministic generator.
        seed: u64,
    },
}

#[derive(Debug, Clone)]
struct MemFile {
    live: Vec<u8>,
    durable: Vec<u8>,
    durable_exists: bool,
    open_writers: u32,
}

#[derive(Debug, Default)]
struct MemFs {
    files: BTreeMap<String, MemFile>,
}

/// In-memory storage: a cheap handle (clones share the same files).
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    fs: Arc<Mutex<MemFs>>,
}

/// A writable file of a [`MemStorage`]. Its live bytes are private until the writer publishes
/// them ([`Region::written`], `store_u64_release`, `sync`) or the region is dropped, as the
/// page cache is private to a machine; `sync` also copies them into the durable image.
#[derive(Debug)]
pub struct MemRegion {
    name: String,
    live: Vec<u8>,
    fs: Arc<Mutex<MemFs>>,
}

impl Drop for MemRegion {
    fn drop(&mut self) {
        let mut fs = lock(&self.fs);
        if let Some(file) = fs.files.get_mut(&self.name) {
            file.live.clone_from(&self.live);
            file.open_writers -= 1;
        }
    }
}

fn lock(fs: &Mutex<MemFs>) -> MutexGuard<'_, MemFs> {
    fs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, name.to_string())
}

impl Region for MemRegion {
    fn bytes(&self) -> &[u8] {
        &self.live
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.live
    }

    fn sync(&mut self, offset: usize, len: usize) -> io::Result<()> {
        let (start, len) = page_range(offset, len, self.live.len());
        let mut fs = lock(&self.fs);
        let file = fs
            .files
            .get_mut(&self.name)
            .ok_or_else(|| not_found(&self.name))?;
        let range = start..start + len;
        file.durable[range.clone()].copy_from_slice(&self.live[range.clone()]);
        file.live[range.clone()].copy_from_slice(&self.live[range]);
        Ok(())
    }

    fn store_u64_release(&mut self, offset: usize, value: u64) {
        self.live[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
        self.written(offset, 8);
    }

    fn written(&mut self, offset: usize, len: usize) {
        let mut fs = lock(&self.fs);
        if let Some(file) = fs.files.get_mut(&self.name) {
            let range = offset..offset + len;
            file.live[range.clone()].copy_from_slice(&self.live[range]);
        }
    }
}

/// SplitMix64: a tiny deterministic generator for crash decisions.
#[derive(Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next_bool(&mut self) -> bool {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) & 1 == 1
    }
}

impl MemStorage {
    /// An empty storage.
    pub fn new() -> Self {
        MemStorage::default()
    }

    /// The storage a reboot would find: durable bytes only, plus (for
    /// [`CrashMode::TornSectors`]) a random subset of un-synced sectors and file creations.
    /// Every region of this storage must have been dropped (the crashed writer is gone).
    pub fn crash(&self, mode: CrashMode) -> MemStorage {
        let fs = lock(&self.fs);
        let mut rng = match mode {
            CrashMode::DropUnsynced => None,
            CrashMode::TornSectors { seed } => Some(SplitMix(seed)),
        };
        let mut files = BTreeMap::new();
        for (name, file) in &fs.files {
            assert_eq!(file.open_writers, 0, "crash() while {name} is still open");
            let exists = file.durable_exists || rng.as_mut().is_some_and(SplitMix::next_bool);
            if !exists {
                continue;
            }
            let mut image = file.durable.clone();
            if let Some(rng) = rng.as_mut() {
                persist_random_sectors(&mut image, &file.live, rng);
            }
            let crashed = MemFile {
                live: image.clone(),
                durable: image,
                durable_exists: true,
                open_writers: 0,
            };
            files.insert(name.clone(), crashed);
        }
        MemStorage {
            fs: Arc::new(Mutex::new(MemFs { files })),
        }
    }

    /// A power loss of the machine holding this storage, seen by every clone of the handle:
    /// its files become what [`MemStorage::crash`] returns.
    pub fn power_loss(&self, mode: CrashMode) {
        let crashed = self.crash(mode);
        let files = std::mem::take(&mut lock(&crashed.fs).files);
        lock(&self.fs).files = files;
    }

    /// Runs `f` over the published live bytes of a file without copying them (`None` if the
    /// file does not exist).
    pub fn with_file<T>(&self, name: &str, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        lock(&self.fs).files.get(name).map(|file| f(&file.live))
    }

    /// The live bytes of a file (`None` if it does not exist), e.g. `journal.meta` or a
    /// [`segment_file_name`].
    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        lock(&self.fs).files.get(name).map(|file| file.live.clone())
    }

    /// Names of every file, ascending.
    pub fn file_names(&self) -> Vec<String> {
        lock(&self.fs).files.keys().cloned().collect()
    }

    /// XORs `mask` into byte `offset` of a file, live and durable alike: media corruption.
    pub fn corrupt(&self, name: &str, offset: usize, mask: u8) {
        let mut fs = lock(&self.fs);
        let file = fs
            .files
            .get_mut(name)
            .expect("corrupt() of an existing file");
        assert_eq!(file.open_writers, 0, "corrupt() while {name} is open");
        file.live[offset] ^= mask;
        file.durable[offset] ^= mask;
    }

    fn open_writable(&self, name: &str) -> io::Result<MemRegion> {
        let mut fs = lock(&self.fs);
        let file = fs.files.get_mut(name).ok_or_else(|| not_found(name))?;
        assert_eq!(file.open_writers, 0, "{name} opened for writing twice");
        file.open_writers += 1;
        let live = file.live.clone();
        Ok(MemRegion {
            name: name.to_string(),
            live,
            fs: Arc::clone(&self.fs),
        })
    }

    fn create(&self, name: &str, len: u64) -> io::Result<MemRegion> {
        let len = usize::try_from(len).map_err(|_| io::Error::other("file too large"))?;
        {
            let mut fs = lock(&self.fs);
            let file = MemFile {
                live: vec![0; len],
                durable: vec![0; len],
                durable_exists: false,
                open_writers: 0,
            };
            fs.files.insert(name.to_string(), file);
        }
        self.open_writable(name)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.file(name).ok_or_else(|| not_found(name))
    }
}

fn persist_random_sectors(image: &mut [u8], live: &[u8], rng: &mut SplitMix) {
    for (durable, live) in image.chunks_mut(SECTOR_SIZE).zip(live.chunks(SECTOR_SIZE)) {
        if durable != live && rng.next_bool() {
            durable.copy_from_slice(live);
        }
    }
}

impl Storage for MemStorage {
    type Region = MemRegion;
    type ReadRegion = Vec<u8>;

    fn list_segments(&mut self) -> io::Result<Vec<u64>> {
        let fs = lock(&self.fs);
        Ok(fs
            .files
            .keys()
            .filter_map(|name| parse_segment_file_name(name))
            .collect())
    }

    fn create_segment(&mut self, first_seq: u64, len: u64) -> io::Result<MemRegion> {
        let name = segment_file_name(first_seq);
        if lock(&self.fs).files.contains_key(&name) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, name));
        }
        self.create(&name, len)
    }

    fn open_segment(&mut self, first_seq: u64) -> io::Result<MemRegion> {
        self.open_writable(&segment_file_name(first_seq))
    }

    fn open_segment_read(&mut self, first_seq: u64) -> io::Result<Vec<u8>> {
        self.read(&segment_file_name(first_seq))
    }

    fn remove_segment(&mut self, first_seq: u64) -> io::Result<()> {
        let name = segment_file_name(first_seq);
        lock(&self.fs)
            .files
            .remove(&name)
            .map(|_| ())
            .ok_or_else(|| not_found(&name))
    }

    fn open_meta(&mut self) -> io::Result<Option<MemRegion>> {
        match self.open_writable(META_FILE_NAME) {
            Ok(region) => Ok(Some(region)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn open_meta_read(&mut self) -> io::Result<Option<Vec<u8>>> {
        Ok(self.file(META_FILE_NAME))
    }

    fn create_meta(&mut self, len: u64) -> io::Result<MemRegion> {
        self.create(META_FILE_NAME, len)
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        for file in lock(&self.fs).files.values_mut() {
            file.durable_exists = true;
        }
        Ok(())
    }

    fn segment_display(&self, first_seq: u64) -> String {
        segment_file_name(first_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_only_synced_bytes() {
        let mut storage = MemStorage::new();
        let mut region = storage.create_segment(1, 16384).expect("create");
        storage.sync_dir().expect("sync dir");
        region.bytes_mut()[10] = 1;
        region.sync(0, 11).expect("sync");
        region.bytes_mut()[8192] = 2;
        drop(region);
        let name = segment_file_name(1);
        let crashed = storage.crash(CrashMode::DropUnsynced);
        let bytes = crashed.file(&name).expect("file survives");
        assert_eq!((bytes[10], bytes[8192]), (1, 0));
        assert_eq!(storage.file(&name).expect("live")[8192], 2);
    }

    #[test]
    fn unsynced_creation_is_lost() {
        let mut storage = MemStorage::new();
        drop(storage.create_segment(1, 4096).expect("create"));
        assert!(
            storage
                .crash(CrashMode::DropUnsynced)
                .file_names()
                .is_empty()
        );
    }

    #[test]
    fn torn_sectors_are_deterministic_per_seed() {
        let mut storage = MemStorage::new();
        let mut region = storage.create_segment(1, 1 << 16).expect("create");
        storage.sync_dir().expect("sync dir");
        region.bytes_mut().fill(0xab);
        drop(region);
        let name = segment_file_name(1);
        let image = |seed| storage.crash(CrashMode::TornSectors { seed }).file(&name);
        assert_eq!(image(7), image(7));
        let torn = image(7).expect("exists");
        let kept = torn.chunks(SECTOR_SIZE).filter(|s| s[0] == 0xab).count();
        assert!(
            kept > 0 && kept < torn.len() / SECTOR_SIZE,
            "kept {kept} sectors"
        );
    }
}
