//! Where the bytes live. The writer is generic over [`Storage`], so the hot path writes straight
//! into the region's slice (no per-record virtual call); tests swap in
//! [`MemStorage`](crate::MemStorage) to keep live and durable bytes apart.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use memmap2::{Advice, Mmap, MmapMut};

use crate::format::{META_FILE_NAME, parse_segment_file_name, segment_file_name};
use crate::limits::PAGE_SIZE;
use crate::sys;

/// A writable, fixed-size byte region: a segment file or the metadata file.
pub trait Region {
    /// The live bytes.
    fn bytes(&self) -> &[u8];
    /// The live bytes, writable.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Makes `bytes()[offset..offset + len]` durable (rounded out to whole pages), like `msync`.
    fn sync(&mut self, offset: usize, len: usize) -> io::Result<()>;
    /// Publishes `value` at the 8-byte aligned `offset` with Release ordering, for readers that
    /// map the same file in other threads or processes.
    fn store_u64_release(&mut self, offset: usize, value: u64);
    /// `bytes()[offset..offset + len]` were just written and are about to be published to
    /// readers (by a `store_u64_release` of the metadata file). A mapped file needs nothing
    /// (readers map the same pages); an in-memory region copies them to where readers look.
    #[inline]
    fn written(&mut self, offset: usize, len: usize) {
        let _ = (offset, len);
    }
}

/// A directory of segment files plus one metadata file.
pub trait Storage {
    /// A mapped, writable file.
    type Region: Region;
    /// A read-only view of a file, shareable between verification threads.
    type ReadRegion: AsRef<[u8]> + Send + Sync;

    /// First sequence numbers of every segment file, ascending.
    fn list_segments(&mut self) -> io::Result<Vec<u64>>;
    /// Creates a zero-filled segment file of `len` bytes; fails if it exists.
    fn create_segment(&mut self, first_seq: u64, len: u64) -> io::Result<Self::Region>;
    /// Opens an existing segment file for writing.
    fn open_segment(&mut self, first_seq: u64) -> io::Result<Self::Region>;
    /// Opens an existing segment file for reading.
    fn open_segment_read(&mut self, first_seq: u64) -> io::Result<Self::ReadRegion>;
    /// Deletes a segment file.
    fn remove_segment(&mut self, first_seq: u64) -> io::Result<()>;
    /// Opens the metadata file if it exists.
    fn open_meta(&mut self) -> io::Result<Option<Self::Region>>;
    /// Opens the metadata file read-only if it exists.
    fn open_meta_read(&mut self) -> io::Result<Option<Self::ReadRegion>>;
    /// Creates (or replaces) a zero-filled metadata file of `len` bytes.
    fn create_meta(&mut self, len: u64) -> io::Result<Self::Region>;
    /// Makes file creations and removals durable (`fsync` of the directory).
    fn sync_dir(&mut self) -> io::Result<()>;
    /// How errors name a segment: its path or file name.
    fn segment_display(&self, first_seq: u64) -> String;
}

/// Rounds `[offset, offset + len)` out to whole pages inside `total`.
pub(crate) fn page_range(offset: usize, len: usize, total: usize) -> (usize, usize) {
    let start = offset / PAGE_SIZE * PAGE_SIZE;
    let end = (offset + len).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    (start, end.min(total) - start)
}

/// Segment files in a directory, memory-mapped.
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    prefault: bool,
}

impl FileStorage {
    /// Storage over `dir`, creating the directory if needed.
    pub fn create(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(FileStorage {
            dir: dir.to_path_buf(),
            prefault: false,
        })
    }

    /// Storage over an existing directory.
    pub fn open(dir: &Path) -> io::Result<Self> {
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(FileStorage {
            dir: dir.to_path_buf(),
            prefault: false,
        })
    }

    /// When set, new segments have every page faulted in writable at creation
    /// (`MADV_POPULATE_WRITE`), so appends never take a page fault. Best effort: kernels
    /// without the advice fall back to faulting on first write.
    pub fn with_prefault(mut self, prefault: bool) -> Self {
        self.prefault = prefault;
        self
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn segment_path(&self, first_seq: u64) -> PathBuf {
        self.dir.join(segment_file_name(first_seq))
    }

    fn open_rw(path: &Path) -> io::Result<FileRegion> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let map = sys::map_mut(&file)?;
        Ok(FileRegion { map, _file: file })
    }
}

/// A mapped file of a [`FileStorage`].
#[derive(Debug)]
pub struct FileRegion {
    map: MmapMut,
    _file: File,
}

impl Region for FileRegion {
    #[inline]
    fn bytes(&self) -> &[u8] {
        &self.map
    }

    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }

    fn sync(&mut self, offset: usize, len: usize) -> io::Result<()> {
        let (start, len) = page_range(offset, len, self.map.len());
        if len == 0 {
            return Ok(());
        }
        self.map.flush_range(start, len)
    }

    #[inline]
    fn store_u64_release(&mut self, offset: usize, value: u64) {
        sys::store_release(&mut self.map, offset, value);
    }
}

/// A read-only mapped file of a [`FileStorage`].
#[derive(Debug)]
pub struct FileReadRegion {
    map: Mmap,
}

impl FileReadRegion {
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        Ok(FileReadRegion {
            map: sys::map_read(&file)?,
        })
    }

    pub(crate) fn map(&self) -> &Mmap {
        &self.map
    }
}

impl AsRef<[u8]> for FileReadRegion {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Storage for FileStorage {
    type Region = FileRegion;
    type ReadRegion = FileReadRegion;

    fn list_segments(&mut self) -> io::Result<Vec<u64>> {
        list_segment_files(&self.dir)
    }

    fn create_segment(&mut self, first_seq: u64, len: u64) -> io::Result<FileRegion> {
        let path = self.segment_path(first_seq);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.set_len(len)?;
        let map = sys::map_mut(&file)?;
        if self.prefault {
            // Best effort: a kernel without MADV_POPULATE_WRITE faults pages on first write.
            let _ = map.advise(Advice::PopulateWrite);
        }
        Ok(FileRegion { map, _file: file })
    }

    fn open_segment(&mut self, first_seq: u64) -> io::Result<FileRegion> {
        Self::open_rw(&self.segment_path(first_seq))
    }

    fn open_segment_read(&mut self, first_seq: u64) -> io::Result<FileReadRegion> {
        FileReadRegion::open(&self.segment_path(first_seq))
    }

    fn remove_segment(&mut self, first_seq: u64) -> io::Result<()> {
        fs::remove_file(self.segment_path(first_seq))
    }

    fn open_meta(&mut self) -> io::Result<Option<FileRegion>> {
        match Self::open_rw(&self.dir.join(META_FILE_NAME)) {
            Ok(region) => Ok(Some(region)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn open_meta_read(&mut self) -> io::Result<Option<FileReadRegion>> {
        match FileReadRegion::open(&self.dir.join(META_FILE_NAME)) {
            Ok(region) => Ok(Some(region)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn create_meta(&mut self, len: u64) -> io::Result<FileRegion> {
        let path = self.dir.join(META_FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        file.set_len(len)?;
        let map = sys::map_mut(&file)?;
        Ok(FileRegion { map, _file: file })
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn segment_display(&self, first_seq: u64) -> String {
        self.segment_path(first_seq).display().to_string()
    }
}

/// First sequence numbers of the segment files in `dir`, ascending; other files are ignored.
pub(crate) fn list_segment_files(dir: &Path) -> io::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(seq) = name.to_str().and_then(parse_segment_file_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_range_rounds_out_and_clamps() {
        assert_eq!(page_range(0, 0, 8192), (0, 0));
        assert_eq!(page_range(100, 10, 8192), (0, 4096));
        assert_eq!(page_range(4000, 200, 8192), (0, 8192));
        assert_eq!(page_range(8000, 500, 8192), (4096, 4096));
    }
}
