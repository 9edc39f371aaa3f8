//! Decimal digits without `core::fmt`: the encoder writes a tag, a sequence number, a length
//! or a price per field, and formatting through `write!` cost the gateway about a tenth of
//! its time under load.

/// Appends `value` in decimal.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = value;
    loop {
        i -= 1;
        // `v % 10` is below 10: the cast keeps it.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (v % 10) as u8;
        digits[i] = b'0' + digit;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `value` in decimal, left-padded with zeros to `width` digits.
#[inline]
pub(crate) fn push_u64_padded(out: &mut Vec<u8>, value: u64, width: usize) {
    let len = value.checked_ilog10().map_or(1, |l| l as usize + 1);
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(len)));
    push_u64(out, value);
}

/// Writes `value` as exactly `N` digits (the low ones; zero-padded) into `out`.
#[inline]
pub(crate) fn write_fixed<const N: usize>(out: &mut [u8], value: u64) {
    let mut v = value;
    for slot in out[..N].iter_mut().rev() {
        #[allow(clippy::cast_possible_truncation)]
        let digit = (v % 10) as u8;
        *slot = b'0' + digit;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn digits_match_the_standard_formatting(v: u64, width in 0usize..25) {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            prop_assert_eq!(out, v.to_string().into_bytes());
            let mut padded = Vec::new();
            push_u64_padded(&mut padded, v, width);
            prop_assert_eq!(padded, format!("{v:0width$}").into_bytes());
        }

        #[test]
        fn fixed_width_keeps_the_low_digits(v in 0u64..1000) {
            let mut out = [0u8; 3];
            write_fixed::<3>(&mut out, v);
            prop_assert_eq!(out.to_vec(), format!("{v:03}").into_bytes());
        }
    }
}
