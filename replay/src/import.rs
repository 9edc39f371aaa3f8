//! `journal import`: a JSON-lines command file written into a new journal, so a backtest can be
//! replayed, verified and inspected like the record of a real run. This writes a journal that
//! did not exist; replay never writes to a journal it reads.

use std::path::Path;

use crate::commands::CommandFile;
use crate::error::ReplayError;

/// Writes every command of `commands` into a new journal at `dir` (which must not hold one),
/// synced before returning. Returns the number of records written.
pub fn import<R: std::io::BufRead>(
    commands: &mut CommandFile<R>,
    dir: &Path,
) -> Result<u64, ReplayError> {
    let failed = |reason: String| ReplayError::JournalWrite {
        dir: dir.to_path_buf(),
        reason,
    };
    if dir.join(journal::META_FILE_NAME).exists() {
        return Err(failed(
            "a journal is already there; import writes a new one".into(),
        ));
    }
    let config = journal::Config {
        durability: journal::Durability::None,
        ..journal::Config::default()
    };
    let mut writer = journal::Writer::open(dir, config).map_err(|e| failed(e.to_string()))?;
    let mut body = [0u8; protocol::MESSAGE_SIZE_MAX];
    let mut written = 0;
    while let Some(c) = commands.next()? {
        let n = c
            .command
            .encode_into(&mut body)
            .expect("MESSAGE_SIZE_MAX fits any command");
        let _receipt = writer
            .append_at(
                c.seq.0,
                c.timestamp.0,
                journal::RecordKind::COMMAND,
                &body[..n],
            )
            .map_err(|e| failed(format!("seq {}: {e}", c.seq)))?;
        written += 1;
    }
    writer.close().map_err(|e| failed(e.to_string()))?;
    Ok(written)
}
