//! Agents: duty cycles that report how much work they did, run either on their own thread
//! ([`AgentRunner`]) or from the caller's loop ([`AgentInvoker`], for tests and simulation).
//!
//! Aeron Cluster's vocabulary: an `*Agent` owns its adapters (inbound) and publishers
//! (outbound) and its `do_work()` returns a work count so an [`IdleStrategy`] can back off.
//! Node logic stays a sans-IO core; the agent is the thin layer that feeds it bytes and time.

use crate::idle::{IdleConfig, IdleStrategy};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// A duty cycle.
pub trait Agent {
    /// Do one cycle of work; return how much was done (0 lets the idle strategy back off).
    fn do_work(&mut self) -> usize;
    /// A short name for threads and logs.
    fn name(&self) -> &str;
    /// Called once, on the agent's thread, after the last `do_work()`.
    fn on_close(&mut self) {}
}

/// A shared stop signal: clones see the same flag, so one flag can stop many runners.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag that is not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raise the flag: every runner sharing it finishes its current cycle and closes.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether the flag has been raised.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Why an [`AgentRunner`] could not start or did not finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The OS refused to create the thread.
    #[error("spawning the thread for agent {name:?}: {source}")]
    Spawn {
        /// The runner's name.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The factory that builds the agent on its thread returned an error.
    #[error("building agent {name:?}: {source}")]
    Build {
        /// The runner's name.
        name: String,
        /// What the factory returned.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The agent panicked (while being built, in `do_work` or in `on_close`).
    #[error("agent {name:?} panicked")]
    Panicked {
        /// The runner's name.
        name: String,
    },
}

/// Runs one [`Agent`] on its own thread until a [`StopFlag`] is raised, idling with the
/// configured strategy between cycles that did no work.
///
/// The agent is *built on its thread* by a factory: rusteron's handles (clients,
/// publications, subscriptions) are not `Send` without its `multi-threaded` feature, so an
/// agent that owns them must be created where it runs.
#[derive(Debug)]
pub struct AgentRunner {
    name: String,
    stop: StopFlag,
    thread: Option<JoinHandle<u64>>,
}

impl AgentRunner {
    /// Spawn a thread named `name`, build the agent there with `build`, and run its duty
    /// cycle until `stop` is raised. Returns once the agent is built, so a build error is
    /// reported here rather than lost on the thread.
    pub fn start<A, E, F>(
        name: &str,
        idle: IdleConfig,
        stop: &StopFlag,
        build: F,
    ) -> Result<Self, RunnerError>
    where
        A: Agent,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
        F: FnOnce() -> Result<A, E> + Send + 'static,
    {
        let (built_tx, built_rx) = mpsc::sync_channel::<Result<(), E>>(1);
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut agent = match build() {
                    Ok(agent) => agent,
                    Err(error) => {
                        // The receiver waits for exactly this message.
                        let _ = built_tx.send(Err(error));
                        return 0;
                    }
                };
                let _ = built_tx.send(Ok(()));
                run_duty_cycle(&mut agent, idle, &flag)
            })
            .map_err(|source| RunnerError::Spawn {
                name: name.to_owned(),
                source,
            })?;
        // A failed start must not raise the shared flag: other runners may share it.
        let panicked = || RunnerError::Panicked {
            name: name.to_owned(),
        };
        match built_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                name: name.to_owned(),
                stop: stop.clone(),
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                thread.join().map_err(|_| panicked())?;
                Err(RunnerError::Build {
                    name: name.to_owned(),
                    source: error.into(),
                })
            }
            // The sender dropped without a message: the factory panicked.
            Err(mpsc::RecvError) => {
                let _ = thread.join();
                Err(panicked())
            }
        }
    }

    /// The runner's (and its thread's) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the agent's thread has exited.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Raise the stop flag (stopping every runner that shares it), wait for this agent's
    /// `on_close`, and return how many duty cycles it ran.
    pub fn close(mut self) -> Result<u64, RunnerError> {
        self.stop.stop();
        self.join_thread()
    }

    fn join_thread(&mut self) -> Result<u64, RunnerError> {
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| RunnerError::Panicked {
                name: self.name.clone(),
            }),
            None => Ok(0),
        }
    }
}

impl Drop for AgentRunner {
    fn drop(&mut self) {
        self.stop.stop();
        // A panic was already reported by the thread's panic hook; nothing more to do here.
        let _ = self.join_thread();
    }
}

fn run_duty_cycle<A: Agent>(agent: &mut A, idle: IdleConfig, stop: &StopFlag) -> u64 {
    run_on_current_thread(agent, &mut idle.build(), stop)
}

/// Drives an [`Agent`] from the caller's loop: no thread, no idle strategy. The simulator
/// and single-threaded tests interleave several invokers deterministically.
#[derive(Debug)]
pub struct AgentInvoker<A: Agent> {
    agent: A,
    closed: bool,
}

impl<A: Agent> AgentInvoker<A> {
    /// Wrap an agent.
    pub fn new(agent: A) -> Self {
        Self {
            agent,
            closed: false,
        }
    }

    /// Run one duty cycle and return its work count (0 once closed).
    pub fn invoke(&mut self) -> usize {
        if self.closed {
            return 0;
        }
        self.agent.do_work()
    }

    /// The agent, for inspecting its state between cycles.
    pub fn agent(&self) -> &A {
        &self.agent
    }

    /// The agent, mutably (e.g. to inject a command in a test).
    pub fn agent_mut(&mut self) -> &mut A {
        &mut self.agent
    }

    /// Whether [`Self::close`] has run.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Call the agent's `on_close` once; later calls and invokes do nothing.
    pub fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.agent.on_close();
        }
    }

    /// Close and hand back the agent.
    pub fn into_inner(mut self) -> A {
        self.close();
        self.agent
    }
}

/// Run `agent`'s duty cycle with `idle` on the calling thread until `stop` is raised, then
/// call `on_close`. Returns the number of cycles run. For a process whose main thread is
/// the agent.
pub fn run_on_current_thread<A: Agent, I: IdleStrategy>(
    agent: &mut A,
    idle: &mut I,
    stop: &StopFlag,
) -> u64 {
    let mut cycles = 0u64;
    while !stop.is_stopped() {
        idle.idle(agent.do_work());
        cycles += 1;
    }
    agent.on_close();
    cycles
}
