//! Feeds arbitrary bytes to the FIX framer as a stream, the way a session reads a socket:
//! never panics, always makes progress, and every frame it returns re-frames to itself.
#![no_main]

use gateway::fix::{Decoder, FrameError, MESSAGE_SIZE_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new();
    let mut at = 0;
    while at < data.len() {
        match decoder.decode(&data[at..]) {
            Ok(Some((frame, used))) => {
                assert!(used > 0 && frame.bytes().len() == used);
                assert_eq!(frame.fields().next().map(|(tag, _)| tag), Some(35));
                at += used;
            }
            Ok(None) => break,
            Err(FrameError::Garbled { skip, .. }) => {
                assert!(skip > 0);
                at += skip;
            }
            Err(FrameError::TooLarge(n)) => {
                assert!(n > MESSAGE_SIZE_MAX);
                break;
            }
        }
    }
});
