//! Where output goes: stdout or a file, buffered; and progress bars on stderr.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;

/// A buffered writer to `path`, or to stdout when there is none.
pub(super) fn open_out(path: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
    })
}

/// Whether an error is a closed pipe (`lockstep replay events | head` is not an error).
pub(super) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    let broken = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(broken)
            || matches!(e.downcast_ref(), Some(replay::ReplayError::Io { error, .. }) if broken(error))
    })
}
