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

/// A progress bar on stderr, hidden when stderr is not a terminal (pipes, CI, tests). Updated
/// every `replay::PROGRESS_INTERVAL` commands only, so it costs nothing measurable per command.
pub(super) struct Bar(indicatif::ProgressBar);

impl Bar {
    pub(super) fn new(what: &str) -> Self {
        use std::io::IsTerminal as _;
        if !std::io::stderr().is_terminal() {
            return Self(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} seq ({per_sec}, eta {eta})",
        )
        .expect("a valid template");
        bar.set_style(style);
        bar.set_message(what.to_owned());
        Self(bar)
    }
}

impl replay::Progress for Bar {
    fn update(&mut self, applied: protocol::Seq, end: u64) {
        if end > 0 && self.0.length() != Some(end) {
            self.0.set_length(end);
        }
        self.0.set_position(applied.0);
    }

    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

impl std::fmt::Debug for Bar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bar")
    }
}
