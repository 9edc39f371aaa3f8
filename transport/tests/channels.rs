//! Channel URIs: the typed constructors produce what Aeron expects, config strings parse
//! and print back, and malformed ones are typed errors.

use transport::{Channel, ChannelError, Media, StreamId};

#[test]
fn constructors_produce_aeron_uris() {
    let cases = [
        (Channel::ipc(), "aeron:ipc"),
        (
            Channel::udp("127.0.0.1:40001"),
            "aeron:udp?endpoint=127.0.0.1:40001",
        ),
        (
            Channel::multicast("224.0.1.1:40456", "127.0.0.1"),
            "aeron:udp?endpoint=224.0.1.1:40456|interface=127.0.0.1",
        ),
        (
            Channel::mdc_publication("127.0.0.1:40456"),
            "aeron:udp?control=127.0.0.1:40456|control-mode=dynamic",
        ),
        (
            Channel::mdc_subscription("127.0.0.1:40457", "127.0.0.1:40456"),
            "aeron:udp?endpoint=127.0.0.1:40457|control=127.0.0.1:40456",
        ),
        (
            Channel::mdc_manual_publication(),
            "aeron:udp?control-mode=manual",
        ),
        (
            Channel::ipc().term_length(65_536).expect("valid").mtu(8192),
            "aeron:ipc?term-length=65536|mtu=8192",
        ),
    ];
    for (channel, uri) in cases {
        assert_eq!(channel.to_string(), uri);
        assert_eq!(uri.parse::<Channel>(), Ok(channel), "{uri} parses back");
    }
}

#[test]
fn with_replaces_an_existing_parameter() {
    let channel = Channel::udp("127.0.0.1:1").with("endpoint", "127.0.0.1:2");
    assert_eq!(channel.param("endpoint"), Some("127.0.0.1:2"));
    assert_eq!(channel.media(), Media::Udp);
    assert_eq!(channel.param("mtu"), None);
}

#[test]
fn term_length_must_be_a_power_of_two_in_aerons_range() {
    for bad in [0, 1000, 32 * 1024, 65_537, 2_147_483_648] {
        assert_eq!(
            Channel::ipc().term_length(bad),
            Err(ChannelError::BadTermLength(bad)),
            "{bad}"
        );
    }
    for good in [64 * 1024, 1024 * 1024, 1024 * 1024 * 1024] {
        assert!(Channel::ipc().term_length(good).is_ok(), "{good}");
    }
}

#[test]
fn malformed_uris_are_typed_errors() {
    let cases = [
        (
            "aeron:tcp?endpoint=x:1",
            ChannelError::UnknownMedia("aeron:tcp?endpoint=x:1".into()),
        ),
        ("udp", ChannelError::UnknownMedia("udp".into())),
        (
            "aeron:udp?endpoint",
            ChannelError::BadParam("endpoint".into()),
        ),
        ("aeron:udp?=1", ChannelError::BadParam("=1".into())),
        ("aeron:udp?a=b=c", ChannelError::BadParam("a=b=c".into())),
        (
            "aeron:ipc\0",
            ChannelError::BadCharacter("aeron:ipc\0".into()),
        ),
    ];
    for (text, error) in cases {
        assert_eq!(text.parse::<Channel>(), Err(error), "{text:?}");
    }
}

#[test]
fn stream_ids_print_as_numbers() {
    assert_eq!(StreamId(1001).to_string(), "1001");
}
