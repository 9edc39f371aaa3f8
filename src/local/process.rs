//! A child `lockstep` process: started with its output in files, signalled by PID, and never
//! left behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use transport::{Backoff, IdleStrategy as _};

/// How long a process may take to exit after a signal.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a process dropped while running gets between SIGTERM and SIGKILL.
const DROP_GRACE: Duration = Duration::from_secs(5);

/// A child process, terminated (then killed) when dropped, so a failure leaves nothing behind.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    /// Starts `exe ARGS`, with `env` added, its stdout and stderr in `dir/NAME.out|.err`
    /// (appended to, so a restarted process's earlier runs stay there).
    pub fn spawn(
        exe: &Path,
        dir: &Path,
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        let file = |path: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))
        };
        let child = Command::new(exe)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file(&stdout)?)
            .stderr(file(&stderr)?)
            .spawn()
            .with_context(|| format!("starting {name}: {}", exe.display()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
        })
    }

    /// The name it was started under.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `-KILL`) to this process, by PID.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill {signal} {} ({}) failed", self.name, self.child.id());
        }
        Ok(())
    }

    /// Whether it has exited (and so been reaped).
    pub fn has_exited(&mut self) -> anyhow::Result<bool> {
        Ok(self.child.try_wait()?.is_some())
    }

    /// Waits (bounded) for it to exit; returns whether it exited successfully.
    pub fn wait(&mut self) -> anyhow::Result<bool> {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let mut idle = Backoff::default();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            if Instant::now() >= deadline {
                bail!("{} did not exit within {EXIT_TIMEOUT:?}", self.name);
            }
            idle.idle(0);
        }
    }

    /// SIGKILL, and waits for it to be gone.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.kill_now()?;
        self.wait()?;
        Ok(())
    }

    /// SIGKILL at once (kill(2) from this process, no `kill` command to start), without
    /// waiting: the caller times what follows the signal, and reaps it later ([`Proc::kill`]).
    pub fn kill_now(&mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .with_context(|| format!("SIGKILL {} ({})", self.name, self.child.id()))
    }

    /// SIGTERM, a clean exit, and what it printed on stdout.
    pub fn terminate(&mut self) -> anyhow::Result<String> {
        self.signal("-TERM")?;
        if !self.wait()? {
            bail!("{} failed:\n{}", self.name, self.log());
        }
        std::fs::read_to_string(&self.stdout)
            .with_context(|| format!("reading {}", self.stdout.display()))
    }

    /// What it wrote on stderr so far (its log).
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} stderr ---\n{}", self.name, self.log());
        }
        if self.child.try_wait().ok().flatten().is_some() {
            return; // exited and reaped: its pid may belong to someone else by now
        }
        // SIGTERM first, so a driver removes its directory; SIGKILL if that takes too long.
        let _ = self.signal("-TERM");
        let deadline = Instant::now() + DROP_GRACE;
        let mut idle = Backoff::default();
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            idle.idle(0);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
