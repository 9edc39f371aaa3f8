//! Arbitrary bytes as the gateway's store file and as a session's translation snapshot
//! (docs/gateway.md): never a panic, only a clear refusal. The file opens or is refused (a
//! torn end cut off, damage in the middle named); a snapshot that is taken exports to bytes
//! that import again to the same state.
#![no_main]

use gateway::orders::Translator;
use gateway::store::Store;
use libfuzzer_sys::fuzz_target;
use protocol::{AccountId, SessionId};

fn translator() -> Translator {
    Translator::new(SessionId(1), AccountId(1), &[], 1, 64)
}

fuzz_target!(|data: &[u8]| {
    let mut t = translator();
    if t.import(data).is_ok() {
        let bytes = t.export();
        let mut again = translator();
        again.import(&bytes).expect("an export imports");
        assert_eq!(again.export(), bytes, "the same state, the same bytes");
    }
    let path = std::env::temp_dir().join(format!("lockstep-fuzz-{}.store", std::process::id()));
    std::fs::write(&path, data).expect("a scratch file");
    let mut records = 0u64;
    if let Ok((_, found)) = Store::open(&path, false, |_| records += 1) {
        assert_eq!(found.records, records);
    }
});
