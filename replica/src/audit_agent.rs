//! The auditor process's duty cycle: the [`Auditor`] core tailing the co-located journal,
//! taking the replicas' heartbeats from the status stream and sending reference hashes on the
//! acks stream (the stream the replicas already read for consumer acknowledgements).
//!
//! A reference the stream refuses (no replica subscribed yet, back-pressure) waits, in order,
//! and until the waiting ones are gone no more records are read: references are never dropped,
//! and the auditor's memory stays bounded (one batch of records' worth). Heartbeats are still
//! compared meanwhile; divergences are handed to the caller ([`AuditorAgent::take_divergence`])
//! to log.

use std::collections::VecDeque;
use std::path::PathBuf;

use protocol::{ClusterMessage, ReferenceHash};
use transport::{Inbound, Outbound, StreamError};

use crate::audit::{AuditError, AuditOutput, Auditor, AuditorConfig, Divergence};

/// Journal records applied per duty cycle, at most.
const RECORDS_BATCH_MAX: usize = 4096;
/// Heartbeats taken per duty cycle, at most.
const STATUS_POLL_MAX: usize = 256;

/// Why the auditor process stopped.
#[derive(Debug, thiserror::Error)]
pub enum AuditorAgentError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("journal: {0}")]
    Journal(#[from] journal::ReadError),
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// The streams an auditor process uses.
#[derive(Debug)]
pub struct AuditorStreams<S, R> {
    /// The replicas' heartbeats (the status stream).
    pub status: S,
    /// Where reference hashes go (the acks stream).
    pub references: R,
}

/// Counters for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AuditorStats {
    pub records: u64,
    pub references: u64,
    pub statuses: u64,
    pub divergences: u64,
}

/// The auditor process: see the module documentation.
#[derive(Debug)]
pub struct AuditorAgent<S, R> {
    auditor: Auditor,
    journal: PathBuf,
    /// Open once the journal has its first record.
    reader: Option<journal::Reader>,
    streams: AuditorStreams<S, R>,
    /// References the stream refused, oldest first.
    waiting: VecDeque<ReferenceHash>,
    divergences: VecDeque<Divergence>,
    stats: AuditorStats,
}

impl<S: Inbound, R: Outbound> AuditorAgent<S, R> {
    /// An auditor that replays the journal in `journal` from its first record.
    pub fn new(config: AuditorConfig, journal: PathBuf, streams: AuditorStreams<S, R>) -> Self {
        Self {
            auditor: Auditor::new(config),
            journal,
            reader: None,
            streams,
            waiting: VecDeque::new(),
            divergences: VecDeque::new(),
            stats: AuditorStats::default(),
        }
    }

    /// One duty cycle; returns the work done (zero lets the idle strategy back off).
    pub fn do_work(&mut self) -> Result<usize, AuditorAgentError> {
        let mut work = self.send_outputs()?;
        if self.waiting.is_empty() {
            work += self.take_records()?;
        }
        work += self.take_statuses()?;
        work += self.send_outputs()?;
        Ok(work)
    }

    fn take_records(&mut self) -> Result<usize, AuditorAgentError> {
        if self.reader.is_none() {
            let from = self.auditor.applied().0 + 1;
            match journal::Reader::open_at(&self.journal, from) {
                Ok(reader) => self.reader = Some(reader),
                // The sequencer has not written it yet.
                Err(journal::ReadError::NotYetWritten { .. }) => return Ok(0),
                Err(e) => return Err(e.into()),
            }
        }
        let reader = self.reader.as_mut().expect("opened above");
        let mut work = 0;
        while work < RECORDS_BATCH_MAX {
            let Some(record) = reader.next()? else {
                break;
            };
            self.auditor
                .on_record(record.seq, record.timestamp_ns, record.body)?;
            work += 1;
        }
        self.stats.records += work as u64;
        Ok(work)
    }

    fn take_statuses(&mut self) -> Result<usize, AuditorAgentError> {
        let (auditor, stats) = (&mut self.auditor, &mut self.stats);
        let work = self.streams.status.poll(STATUS_POLL_MAX, &mut |bytes| {
            if let Ok(ClusterMessage::ReplicaStatus(status)) = ClusterMessage::decode(bytes) {
                auditor.on_status(&status);
                stats.statuses += 1;
            }
        })?;
        Ok(work)
    }

    /// Takes the core's outputs: references queue to be sent, divergences to be reported.
    fn collect_outputs(&mut self) {
        while let Some(output) = self.auditor.poll_output() {
            match output {
                AuditOutput::Reference(reference) => self.waiting.push_back(reference),
                AuditOutput::Divergence(divergence) => {
                    self.stats.divergences += 1;
                    self.divergences.push_back(divergence);
                }
            }
        }
    }

    fn send_outputs(&mut self) -> Result<usize, AuditorAgentError> {
        self.collect_outputs();
        let mut work = 0;
        while let Some(&reference) = self.waiting.front() {
            let bytes = ClusterMessage::ReferenceHash(reference).encode_to_vec();
            if !self.streams.references.offer(&bytes)? {
                break;
            }
            self.waiting.pop_front();
            self.stats.references += 1;
            work += 1;
        }
        Ok(work)
    }

    /// Applies every record the journal holds now, sending nothing: for a clean stop, so the
    /// auditor's last state is the journal's (its references would go to nobody by then).
    pub fn audit_to_end(&mut self) -> Result<u64, AuditorAgentError> {
        let mut records = 0;
        loop {
            let work = self.take_records()?;
            self.collect_outputs();
            self.waiting.clear();
            if work == 0 {
                return Ok(records);
            }
            records += work as u64;
        }
    }

    /// The next divergence found, for the caller to report.
    pub fn take_divergence(&mut self) -> Option<Divergence> {
        self.divergences.pop_front()
    }

    /// The auditor core, for inspection.
    #[must_use]
    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> AuditorStats {
        self.stats
    }
}
