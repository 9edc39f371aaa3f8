//! Decodes arbitrary bytes as commands and events: never panics, and whatever decodes re-encodes
//! to exactly the bytes it came from (one encoding per message).
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{Command, Event};

fuzz_target!(|data: &[u8]| {
    if let Ok((command, used)) = Command::decode_prefix(data) {
        assert_eq!(command.encode_to_vec(), &data[..used]);
        assert_eq!(Command::decode(&data[..used]), Ok(command));
    }
    if let Ok((event, used)) = Event::decode_prefix(data) {
        assert_eq!(event.encode_to_vec(), &data[..used]);
    }
});
