//! Parses arbitrary bytes as a JSON-lines command file (docs/replay.md): never panics, stops at
//! the first error, and every command it accepts prints back to a line that parses to the same
//! command at the same place.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use protocol::TimestampNs;
use replay::commands::{CommandFile, CommandLine, parse_line};

fuzz_target!(|data: &[u8]| {
    let mut file = CommandFile::new(Path::new("fuzz.jsonl"), data);
    let mut previous = TimestampNs(0);
    while let Ok(Some(command)) = file.next() {
        let line = serde_json::to_string(&CommandLine::of(&command)).expect("commands print");
        assert_eq!(parse_line(&line, command.seq, previous), Ok(command));
        previous = command.timestamp;
    }
});
