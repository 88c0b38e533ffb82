//! One cell's bytes: missing markers, trimming, numbers.

use crate::data::DataError;

/// Cells read as missing, as pandas' `read_csv` does by default (the common ones).
const MISSING: &[&str] = &[
    "", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "?", "-nan",
];

pub(super) fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

pub(super) fn is_missing(b: &[u8]) -> bool {
    MISSING.iter().any(|m| m.as_bytes() == b)
}

/// A cell as it may be quoted in an error: whole when short, else its start and its size, so
/// a message never carries megabytes of one cell to the terminal.
pub(super) fn text(b: &[u8]) -> String {
    const SHOWN: usize = 60;
    if b.len() <= SHOWN + 20 {
        return String::from_utf8_lossy(b).into_owned();
    }
    format!(
        "{}… ({} in all)",
        String::from_utf8_lossy(&b[..SHOWN]),
        crate::resources::human(b.len() as u64)
    )
}

/// The longest text cell (a categorical value or a label) read. A category is a word or a few;
/// a megabyte in one cell is a file read with the wrong delimiter or quoting, and every
/// distinct value is kept in memory with its column's vocabulary.
pub(super) const CELL_LIMIT: usize = 1 << 20;

/// `b` as text, or an error naming the cell when it is not UTF-8: text cells are compared as
/// strings later (vocabularies, label classes), where a lossy decoding would merge values.
pub(super) fn utf8<'b>(
    b: &'b [u8],
    row: u64,
    column: &str,
    origin: &str,
) -> Result<&'b str, DataError> {
    if b.len() > CELL_LIMIT {
        return Err(DataError::CellTooLong {
            path: origin.to_string(),
            row,
            column: column.to_string(),
            value: text(b),
            limit: crate::resources::human(CELL_LIMIT as u64),
        });
    }
    std::str::from_utf8(b).map_err(|_| DataError::NotUtf8 {
        path: origin.to_string(),
        row,
        column: column.to_string(),
        value: text(b),
        bytes: b
            .iter()
            .take(16)
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// 10^k for k < 16: exact in f64.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The number at the start of `s` when it is a plain decimal (`-` or not, digits, a point and
/// digits or not; 15 digits at most), with the bytes it takes: the f32 nearest to it, as
/// `fast_float2` gives, several times faster. Most cells of most files are such numbers; one
/// of 16 bytes or fewer is read sixteen bytes at once, a longer one (or one near the end of the
/// text) a byte at a time.
///
/// How: sixteen bytes at once, with no branch a digit. Where the digits end and where the
/// point is come from one mask of the bytes that are not digits; the digits, the point taken
/// out and the bytes past them cleared, are read as one sixteen-digit number `v`, the
/// number's digits times 10^(16 - digits). The number is `v` / 10^(16 - whole digits).
///
/// Why it is exact: that quotient is formed as `v` times 10^-(16 - whole digits) in f64, three
/// roundings of at most half a unit in the last place each (`v`, the power, the product), so
/// within 3 units of the exact value. Rounding it to f32 gives the f32 nearest to the digits
/// unless an f32 midpoint lies within 4 units; there the digits' integer over a power of ten
/// below 10^16 (both exact in f64, one correctly rounded division: Clinger's fast path)
/// decides, and an exact midpoint is `None` (the caller asks `fast_float2`). Every result is
/// zero or lies between 10^-15 and 10^15, far from f32's subnormals and its overflow.
#[inline(always)]
pub(super) fn plain_decimal(s: &[u8]) -> Option<(f32, usize)> {
    let Some(window) = s.get(..16) else {
        return plain_decimal_short(s);
    };
    // The window is read at the cell's first byte whatever its sign, the sign taken from
    // the same bytes: each cell's end is then one load and a few steps after the last's,
    // the chain that bounds the speed of reading cell after cell.
    let (low, high) = window.split_at(8);
    let low = u64::from_le_bytes(low.try_into().ok()?);
    let high = u64::from_le_bytes(high.try_into().ok()?);
    let negative = low as u8 == b'-';
    let sign = u32::from(negative);
    // Bit i: byte i is not a digit (a leading `-` counted as one); bit 16 stands for the
    // end of the window.
    let not_digit = (not_digits(low, high) & !sign) | 1 << 16;
    let whole_end = not_digit.trailing_zeros() as usize;
    let sign = sign as usize;
    if whole_end == sign || whole_end == 16 {
        return plain_decimal_short(s);
    }
    let point = window[whole_end] == b'.';
    let end = if point {
        (not_digit & not_digit.wrapping_sub(1)).trailing_zeros() as usize
    } else {
        whole_end
    };
    // Wrapping arithmetic on this path: every value is bounded by the window (below 17),
    // and the release profile's overflow checks cost a tenth of a CSV load here.
    let whole = whole_end.wrapping_sub(sign);
    let count = end.wrapping_sub(sign).wrapping_sub(usize::from(point));
    if point && count == whole {
        return None; // `1.` : left to fast_float2
    }
    if end == 16 {
        return plain_decimal_short(s);
    }
    // Digits become 0..=9 and the sign goes; the point is taken out by moving the fraction
    // down one byte, and what follows the digits is cleared.
    let x = ((u128::from(low) | u128::from(high) << 64) ^ (ONES * 0x30)) >> (sign << 3);
    let below = LOW_BYTES[whole];
    let digits = ((x & below) | ((x >> 8) & !below)) & LOW_BYTES[count];
    // Below 10^16: sixteen digits.
    let v = eight_digits(digits as u64)
        .wrapping_mul(100_000_000)
        .wrapping_add(eight_digits((digits >> 64) as u64));
    let f = to_f32(v, 16usize.wrapping_sub(whole), count)?;
    Some((
        f32::from_bits(f.to_bits() | (u32::from(negative) << 31)),
        end,
    ))
}

/// Sixteen ones, one a byte.
const ONES: u128 = u128::from_le_bytes([1; 16]);

/// `LOW_BYTES[n]`: the low `n` bytes of a u128 set.
const LOW_BYTES: [u128; 17] = {
    let mut t = [0u128; 17];
    let mut n = 1;
    while n < 17 {
        t[n] = (t[n - 1] << 8) | 0xff;
        n += 1;
    }
    t
};

/// Which of the sixteen bytes `low`, `high` (little-endian) are not ASCII digits, one bit a
/// byte.
///
/// Each half on its own: digits become 0..=9; a byte is not a digit when it is 10 or more
/// (0x76 added sets its high bit) or had its high bit set already. A carry out of a byte only
/// follows a byte that is not a digit and not the point (`.` becomes 0x1e, which does not
/// carry), so the bits up to the second byte that is neither digit nor point are right, which
/// is all that is used. The high bits are then gathered by one multiplication.
#[inline(always)]
fn not_digits(low: u64, high: u64) -> u32 {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    let half = |h: u64| {
        let h = h ^ (ONES * 0x30);
        let high = (h.wrapping_add(ONES * 0x76) | h) & (ONES * 0x80);
        (high.wrapping_mul(0x0002_0408_1020_4081) >> 56) as u32
    };
    half(low) | half(high) << 8
}

/// 10^-k for k < 16, each the f64 nearest to it.
const INVERSE_POW10: [f64; 16] = [
    1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14,
    1e-15,
];

/// 10^k for k < 16.
const POW10_U64: [u64; 16] = {
    let mut t = [1u64; 16];
    let mut k = 1;
    while k < 16 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// `v` / 10^`scale` as the nearest f32, where `v` is `count` digits (at most 15) followed by
/// zeros to sixteen digits; `None` when the digits lie exactly halfway between two f32s.
///
/// A product with 10^-scale first (a multiplication, not a division, on the hot path): within
/// 3 units in the last place of f64 of the exact quotient. An f32 rounds that product like the
/// exact value unless an f32 midpoint lies within those 3 units; within 4 of one, the
/// correctly rounded division of the digits' own integer decides.
#[inline]
fn to_f32(v: u64, scale: usize, count: usize) -> Option<f32> {
    // Below 10^16 < 2^63: converted as a signed integer, one instruction.
    let product = v as i64 as f64 * INVERSE_POW10[scale];
    // The 29 bits f32 drops, against one half of its last place.
    let dropped = (product.to_bits() & 0x1FFF_FFFF) as i64;
    if dropped.wrapping_sub(0x1000_0000).abs() > 4 {
        return Some(product as f32);
    }
    exact_f32(v / POW10_U64[16 - count], count + scale - 16)
}

/// m / 10^fraction (m below 2^53, fraction below 16) correctly rounded to f32 through one
/// correctly rounded f64 division; `None` when that f64 is exactly halfway between two f32s.
#[cold]
fn exact_f32(m: u64, fraction: usize) -> Option<f32> {
    let exact = m as f64 / POW10[fraction];
    if exact.to_bits() & 0x1FFF_FFFF == 0x1000_0000 {
        return None;
    }
    Some(exact as f32)
}

/// Eight digit values (0..=9), the first byte the most significant, as one number: combined
/// in pairs, fours and eights by three multiplications.
#[inline(always)]
fn eight_digits(d: u64) -> u64 {
    let d = d.wrapping_mul(10).wrapping_add(d >> 8);
    ((d & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32)))
        .wrapping_add(((d >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32)))
        >> 32
}

/// [`plain_decimal`] one byte at a time: near the end of the text, where sixteen bytes are
/// not there to read, and for the numbers the wide path leaves (too long for its window).
fn plain_decimal_short(s: &[u8]) -> Option<(f32, usize)> {
    let negative = s.first() == Some(&b'-');
    let mut i = usize::from(negative);
    let mut m = 0u64;
    let digits = |i: &mut usize, m: &mut u64| {
        let start = *i;
        while let Some(d) = s.get(*i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d < 10) {
            // Wrapping: past 15 digits the value is refused below anyway.
            *m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            *i += 1;
        }
        *i - start
    };
    let whole = digits(&mut i, &mut m);
    let mut fraction = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        fraction = digits(&mut i, &mut m);
        if fraction == 0 {
            return None;
        }
    }
    if whole == 0 || whole + fraction > 15 {
        return None;
    }
    let count = whole + fraction;
    let v = to_f32(m * POW10_U64[16 - count], 16 - whole, count)?;
    Some((if negative { -v } else { v }, i))
}

/// Parses a finite number or a missing marker (NaN); anything else is an error naming the cell.
pub(super) fn parse_number(
    b: &[u8],
    row: u64,
    column: &str,
    origin: &str,
) -> Result<f32, DataError> {
    let b = trim(b);
    if let Some((v, _)) = plain_decimal(b).filter(|&(_, used)| used == b.len()) {
        return Ok(v);
    }
    // Straight from the bytes (no UTF-8 check: a number is ASCII), and the missing markers only
    // when that fails: a float parse is the loader's hottest path.
    let parsed = match fast_float2::parse::<f32, _>(b) {
        Ok(v) => Some(v),
        Err(_) if is_missing(b) => return Ok(f32::NAN),
        Err(_) => None,
    };
    match parsed {
        Some(v) if v.is_finite() => Ok(v),
        Some(v) if v.is_nan() => Ok(f32::NAN),
        // `1e40` is a finite number, only not an f32 one; `inf` is infinite.
        Some(_) if fast_float2::parse::<f64, _>(b).is_ok_and(f64::is_finite) => {
            Err(DataError::TooLarge {
                path: origin.to_string(),
                row,
                column: column.to_string(),
                value: text(b),
            })
        }
        Some(_) => Err(DataError::Infinite {
            path: origin.to_string(),
            row,
            column: column.to_string(),
            value: text(b),
        }),
        None => Err(DataError::NotNumeric {
            path: origin.to_string(),
            row,
            column: column.to_string(),
            value: text(b),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::plain_decimal;
    use proptest::prelude::*;

    /// `plain_decimal` where it answers equals `fast_float2`, bit for bit.
    /// Alone (read one byte at a time) and followed by more cells (sixteen at a time).
    fn agrees(s: &str) -> Result<(), TestCaseError> {
        for s in [s.to_string(), format!("{s},12345678901234567,8")] {
            if let Some((v, used)) = plain_decimal(s.as_bytes()) {
                let (w, n) = fast_float2::parse_partial::<f32, _>(&s).unwrap();
                prop_assert_eq!((v.to_bits(), used), (w.to_bits(), n), "{}", s);
            }
        }
        Ok(())
    }

    /// The f32 halfway cases, where a second rounding could go wrong: the digits of a
    /// midpoint between two neighbouring f32s (exact, 15 digits or fewer from 8192 up) are
    /// refused, and the numbers a last digit away are read as fast_float reads them.
    #[test]
    fn halfway_between_two_f32s_is_left_to_fast_float() {
        let mut midpoints = 0;
        for bits in (8192f32.to_bits()..16_777_216f32.to_bits()).step_by(997) {
            let (a, b) = (f32::from_bits(bits) as f64, f32::from_bits(bits + 1) as f64);
            let mid = (a + b) / 2.0;
            let text = format!("{mid}");
            assert_eq!(text.parse::<f64>().unwrap(), mid);
            if text.bytes().filter(u8::is_ascii_digit).count() <= 15 {
                assert!(plain_decimal(text.as_bytes()).is_none(), "{text}");
                midpoints += 1;
            }
            for last in b'0'..=b'9' {
                let mut near = text.clone().into_bytes();
                *near.last_mut().unwrap() = last;
                agrees(std::str::from_utf8(&near).unwrap()).unwrap();
            }
        }
        assert!(midpoints > 1000, "{midpoints}");
    }

    /// The cells of most files are read by the fast path, not left to `fast_float2`: signed
    /// or not, with or without a point, up to sixteen bytes with the sign, wherever the
    /// point is in the window.
    #[test]
    fn common_cells_take_the_fast_path() {
        let cells = [
            "0",
            "7",
            "-3",
            "3.6607866",
            "-3.8970225",
            "0.18540879",
            "-0.0053647105",
            "123456789012345",
            "-12345678901234",
            "1.23456789012345",
            "-0.00000000000001",
            "99999.5",
            "0.5",
        ];
        for cell in cells {
            for text in [cell.to_string(), format!("{cell},-1.25,2\n")] {
                let (v, used) = plain_decimal(text.as_bytes()).expect(cell);
                assert_eq!(used, cell.len(), "{cell}");
                assert_eq!(
                    v.to_bits(),
                    cell.parse::<f32>().unwrap().to_bits(),
                    "{cell}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(20_000)))]
        #[test]
        fn plain_decimals_are_read_as_fast_float_reads_them(
            s in "-?[0-9]{0,17}(\\.[0-9]{0,17})?[,\n x.\\-e\u{e9}]?",
        ) {
            agrees(&s)?;
        }

        #[test]
        fn shortest_f32_digits_are_read_back_exactly(x in any::<f32>().prop_filter("finite", |x| x.is_finite())) {
            let s = format!("{x}");
            agrees(&s)?;
            let s = format!("{x:.9}");
            agrees(&s)?;
        }
    }
}
