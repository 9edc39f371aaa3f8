//! FIX decimal prices and quantities to the engine's integers: a price is an integer count of
//! the instrument's smallest price unit (`10^-decimals`), a quantity a whole number of units.

/// Digits after the point a price may carry.
pub const PRICE_DECIMALS_MAX: u32 = 9;

/// `text` (e.g. `101.25`, `-3`, `7.50`) in units of `10^-decimals`; `None` if it is not a
/// decimal number, has more significant decimals than that, or does not fit.
#[must_use]
pub fn parse_price(text: &[u8], decimals: u32) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    let magnitude = i64::try_from(parse_scaled(digits, decimals)?).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// A non-negative whole quantity (`100`, `100.0`); `None` otherwise.
#[must_use]
pub fn parse_qty(text: &[u8]) -> Option<u64> {
    parse_scaled(text, 0)
}

fn parse_scaled(text: &[u8], decimals: u32) -> Option<u64> {
    if decimals > PRICE_DECIMALS_MAX {
        return None;
    }
    let (whole, fraction) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let places = usize::try_from(decimals).ok()?;
    // Digits beyond the allowed places must be zeros.
    let (kept, extra) = fraction.split_at(fraction.len().min(places));
    if !extra.iter().all(|&b| b == b'0') || !kept.iter().chain(whole).all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for &d in whole.iter().chain(kept) {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    let missing = u32::try_from(places - kept.len()).ok()?;
    value.checked_mul(10u64.checked_pow(missing)?)
}

/// `value` units of `10^-decimals` as FIX decimal text.
#[must_use]
pub fn format_price(value: i64, decimals: u32) -> String {
    // Digits written directly (no formatting machinery: this runs for every report).
    let mut out = Vec::with_capacity(24);
    if value < 0 {
        out.push(b'-');
    }
    let magnitude = value.unsigned_abs();
    if decimals == 0 {
        crate::fix::push_u64(&mut out, magnitude);
    } else {
        let scale = 10u64.pow(decimals.min(PRICE_DECIMALS_MAX));
        let width = usize::try_from(decimals).unwrap_or(0);
        crate::fix::push_u64(&mut out, magnitude / scale);
        out.push(b'.');
        crate::fix::push_u64_padded(&mut out, magnitude % scale, width);
    }
    String::from_utf8(out).expect("ASCII digits and signs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prices_scale_to_integers_and_back() {
        assert_eq!(parse_price(b"101.25", 2), Some(10_125));
        assert_eq!(parse_price(b"101.2", 2), Some(10_120));
        assert_eq!(parse_price(b"101", 2), Some(10_100));
        assert_eq!(parse_price(b"101.250", 2), Some(10_125));
        assert_eq!(parse_price(b"-0.5", 1), Some(-5));
        assert_eq!(parse_price(b".5", 1), Some(5));
        assert_eq!(format_price(10_125, 2), "101.25");
        assert_eq!(format_price(-5, 1), "-0.5");
        assert_eq!(format_price(7, 0), "7");
    }

    #[test]
    fn bad_decimals_are_refused() {
        for bad in [
            &b"101.255"[..],
            b"",
            b".",
            b"1e3",
            b"1.2.3",
            b"--1",
            b" 1",
            b"99999999999999999999",
        ] {
            assert_eq!(
                parse_price(bad, 2),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_qty(b"100"), Some(100));
        assert_eq!(parse_qty(b"100.00"), Some(100));
        assert_eq!(parse_qty(b"100.5"), None);
        assert_eq!(parse_qty(b"-1"), None);
    }

    proptest! {
        #[test]
        fn formatted_prices_parse_back(value in any::<i64>().prop_filter("has a magnitude", |v| *v != i64::MIN), decimals in 0u32..=PRICE_DECIMALS_MAX) {
            prop_assert_eq!(parse_price(format_price(value, decimals).as_bytes(), decimals), Some(value));
        }
    }
}
