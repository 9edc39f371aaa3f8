//! A digest of everything that happened in a run (deliveries, faults), to show that one seed
//! always gives the same run.

/// FNV-1a over the run's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace(u64);

impl Default for Trace {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Trace {
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn note(&mut self, tag: &[u8], value: u64) {
        self.bytes(tag);
        self.bytes(&value.to_le_bytes());
    }

    /// The digest so far.
    #[must_use]
    pub fn digest(&self) -> u64 {
        self.0
    }
}
