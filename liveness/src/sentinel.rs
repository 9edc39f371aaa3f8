//! The engine's death, learnt before its memory is torn down.
//!
//! [`DeathWatch`] is one page of shared memory holding a process-shared, robust pthread mutex.
//! The engine creates it and locks the mutex from a thread that lives as long as the process.
//! Its sentinel (a child process, [`run_sentinel`]) maps the same page and blocks trying to
//! lock the mutex. When the engine dies, the kernel walks each dying thread's robust-mutex list
//! at the very start of its exit (`exit_mm_release`, before the address space is torn down),
//! marks the mutex owner-dead and wakes the waiter: the sentinel's lock returns `EOWNERDEAD`
//! within a scheduling delay of the kill, whatever the size of the engine's memory.
//!
//! The page is an unlinked temporary file (on `/dev/shm` when there is one) that the engine
//! keeps open; its sentinel opens it as `/proc/<engine pid>/fd/<fd>`. Nothing is left behind
//! whichever process dies.

use std::fs::{File, OpenOptions};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use memmap2::MmapMut;
use protocol::NodeId;

use crate::RELINK_INTERVAL;

/// The shared page.
const PAGE_SIZE: u64 = 4096;
const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() as u64 <= PAGE_SIZE);

/// Why a death watch or a sentinel could not be set up.
#[derive(Debug)]
pub enum SentinelError {
    /// Creating, opening or mapping the shared page.
    Io(std::io::Error),
    /// A pthread call refused (its error number).
    Pthread(&'static str, i32),
}

impl std::fmt::Display for SentinelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "the death watch's shared page: {e}"),
            Self::Pthread(call, errno) => write!(
                f,
                "{call} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl std::error::Error for SentinelError {}

impl From<std::io::Error> for SentinelError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// The mutex in the shared page, for the thread that holds it (the address is the mapping's,
/// which is never unmapped: see [`DeathWatch::create`]).
#[derive(Clone, Copy)]
struct SharedMutex(*mut libc::pthread_mutex_t);

// SAFETY: a process-shared pthread mutex is made to be used from any thread (and process); the
// pointer stays valid because its mapping is leaked for the life of the process.
#[allow(unsafe_code)]
unsafe impl Send for SharedMutex {}

/// The engine's side: the shared page with its mutex, held by this process until it dies.
#[derive(Debug)]
pub struct DeathWatch {
    /// Open for the life of the process: sentinels open the page through it.
    file: File,
}

impl DeathWatch {
    /// Creates the page, initialises the robust process-shared mutex, and locks it from a
    /// thread that parks for the rest of the process's life.
    ///
    /// # Errors
    /// If the page cannot be created or mapped, or the mutex set up.
    pub fn create() -> Result<Self, SentinelError> {
        let file = unlinked_page()?;
        let mutex = map_mutex(&file)?;
        init_robust(mutex)?;
        let (locked_tx, locked_rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("death-watch".into())
            .spawn(move || {
                let mutex = mutex;
                // SAFETY: the mutex was initialised above and its mapping is never unmapped.
                #[allow(unsafe_code)]
                let rc = unsafe { libc::pthread_mutex_lock(mutex.0) };
                let _ = locked_tx.send(rc);
                // Held until this thread dies, which is when the process does.
                loop {
                    std::thread::park();
                }
            })?;
        match locked_rx.recv() {
            Ok(0) => Ok(Self { file }),
            Ok(rc) => Err(SentinelError::Pthread("pthread_mutex_lock", rc)),
            Err(_) => Err(SentinelError::Pthread("pthread_mutex_lock", libc::EINVAL)),
        }
    }

    /// Where a sentinel opens the page: `/proc/<pid>/fd/<fd>`.
    #[must_use]
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.file.as_raw_fd()
        ))
    }

    /// Keeps a sentinel running for this engine: starts `sentinel(path)` (the command of a
    /// process that calls [`run_sentinel`] with the page at `path`), and starts another one
    /// whenever it exits while this process lives. Runs on a thread of its own.
    ///
    /// # Errors
    /// If the thread cannot be started.
    pub fn keep_sentinel(
        self,
        sentinel: impl Fn(&Path) -> std::process::Command + Send + 'static,
    ) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("sentinel-keeper".into())
            .spawn(move || {
                let path = self.path();
                loop {
                    match sentinel(&path).spawn().and_then(|mut c| c.wait()) {
                        Ok(status) => {
                            tracing::warn!(%status, "the liveness sentinel exited; starting another");
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot run the liveness sentinel"),
                    }
                    std::thread::sleep(RELINK_INTERVAL);
                }
            })?;
        Ok(())
    }
}

/// What ended a sentinel's watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// The engine died holding the mutex (`EOWNERDEAD`): the normal end.
    EngineDied,
    /// The mutex was free: the engine had already gone.
    EngineGone,
}

/// The sentinel's life: maps the engine's page at `page`, keeps a link to the sequencer at
/// `address` as `node` (linking again whenever it closes), and blocks on the engine's mutex.
/// When the engine dies it shuts the link down (the FIN leaves at once) and returns: the
/// caller exits.
///
/// # Errors
/// If the page cannot be opened or mapped, or the link thread started.
pub fn run_sentinel(
    page: &Path,
    address: SocketAddr,
    node: NodeId,
) -> Result<Watched, SentinelError> {
    let file = OpenOptions::new().read(true).write(true).open(page)?;
    let mutex = map_mutex(&file)?;
    let current: Arc<Mutex<Option<TcpStream>>> = Arc::default();
    let link = Arc::clone(&current);
    std::thread::Builder::new()
        .name("liveness-link".into())
        .spawn(move || relink_forever(address, node, &link))?;
    // SAFETY: the engine initialised the mutex before starting this process, and the mapping
    // lives until this process exits.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::pthread_mutex_lock(mutex.0) };
    if let Some(stream) = current.lock().expect("not poisoned").take() {
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
    match rc {
        libc::EOWNERDEAD => Ok(Watched::EngineDied),
        0 => Ok(Watched::EngineGone),
        rc => Err(SentinelError::Pthread("pthread_mutex_lock", rc)),
    }
}

fn relink_forever(address: SocketAddr, node: NodeId, current: &Arc<Mutex<Option<TcpStream>>>) {
    let mut failed_before = false;
    loop {
        match crate::link::hold_link(address, node, current) {
            Ok(()) => {
                tracing::info!(%address, "liveness link closed by the sequencer; relinking");
                failed_before = false;
            }
            Err(e) if !failed_before => {
                tracing::warn!(%address, error = %e, "no liveness link to the sequencer yet; retrying");
                failed_before = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(RELINK_INTERVAL);
    }
}

/// A new page-sized file, already unlinked: on `/dev/shm` if there is one, else in the
/// temporary directory.
fn unlinked_page() -> std::io::Result<File> {
    let dir = Path::new("/dev/shm");
    let dir = if dir.is_dir() {
        dir.to_owned()
    } else {
        std::env::temp_dir()
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path = dir.join(format!(
        "lockstep-death-watch-{}-{nanos}",
        std::process::id()
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    file.set_len(PAGE_SIZE)?;
    Ok(file)
}

/// Maps the page for the life of the process and returns its mutex.
fn map_mutex(file: &File) -> Result<SharedMutex, SentinelError> {
    if file.metadata()?.len() < PAGE_SIZE {
        return Err(SentinelError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the death watch's page is too short",
        )));
    }
    // SAFETY: the file is this protocol's page, written only through the mutex's pthread
    // calls; nobody truncates it while it is mapped (its only name is an open descriptor).
    #[allow(unsafe_code)]
    let map = unsafe { MmapMut::map_mut(file)? };
    // Never unmapped: the holder thread and the kernel's robust list point into it until the
    // process exits.
    let map: &'static mut MmapMut = Box::leak(Box::new(map));
    Ok(SharedMutex(map.as_mut_ptr().cast()))
}

/// Initialises a process-shared, robust mutex in place.
fn init_robust(mutex: SharedMutex) -> Result<(), SentinelError> {
    let check = |call, rc: i32| {
        if rc == 0 {
            Ok(())
        } else {
            Err(SentinelError::Pthread(call, rc))
        }
    };
    let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: `attr` is initialised by pthread_mutexattr_init before any other use, and the
    // mutex points at a page-aligned, writable, shared mapping large enough for it.
    #[allow(unsafe_code)]
    unsafe {
        check(
            "pthread_mutexattr_init",
            libc::pthread_mutexattr_init(attr.as_mut_ptr()),
        )?;
        let result = check(
            "pthread_mutexattr_setpshared",
            libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED),
        )
        .and_then(|()| {
            check(
                "pthread_mutexattr_setrobust",
                libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST),
            )
        })
        .and_then(|()| {
            check(
                "pthread_mutex_init",
                libc::pthread_mutex_init(mutex.0, attr.as_ptr()),
            )
        });
        libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within one process a thread stands in for the engine: a thread that exits holding a
    /// robust mutex is a dead owner too.
    #[test]
    fn a_waiter_learns_of_the_holders_death() {
        let file = unlinked_page().unwrap();
        let mutex = map_mutex(&file).unwrap();
        init_robust(mutex).unwrap();
        let (locked_tx, locked_rx) = std::sync::mpsc::sync_channel(0);
        let (die_tx, die_rx) = std::sync::mpsc::sync_channel::<()>(0);
        let holder = std::thread::spawn(move || {
            let mutex = mutex;
            // SAFETY: initialised above; the mapping is leaked.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::pthread_mutex_lock(mutex.0) };
            locked_tx.send(rc).unwrap();
            die_rx.recv().unwrap();
            // Returns holding the lock.
        });
        assert_eq!(locked_rx.recv().unwrap(), 0);
        let waiter = std::thread::spawn(move || {
            let mutex = mutex;
            // SAFETY: as above.
            #[allow(unsafe_code)]
            unsafe {
                libc::pthread_mutex_lock(mutex.0)
            }
        });
        die_tx.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(waiter.join().unwrap(), libc::EOWNERDEAD);
    }

    #[test]
    fn the_page_opens_through_the_engines_descriptor() {
        let watch = DeathWatch::create().unwrap();
        let path = watch.path();
        assert!(path.starts_with("/proc"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert_eq!(file.metadata().unwrap().len(), PAGE_SIZE);
        // The mutex is held by the watch's thread: a try-lock from here finds it busy.
        let mutex = map_mutex(&file).unwrap();
        // SAFETY: initialised by the watch; the mapping is leaked.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::pthread_mutex_trylock(mutex.0) };
        assert_eq!(rc, libc::EBUSY);
    }
}
