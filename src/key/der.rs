//! A minimal DER (X.690) reader and writer for private key structures.
//!
//! The reader walks tag/length/value elements with bounds checks and never
//! panics: it accepts only definite, minimal lengths of up to four bytes and
//! single-byte tags, which is all a key uses. The writer emits the few
//! headers the SEC1 → PKCS#8 wrapping needs (contents under 64 KiB).

pub(super) const TAG_INTEGER: u8 = 0x02;
pub(super) const TAG_BIT_STRING: u8 = 0x03;
pub(super) const TAG_OCTET_STRING: u8 = 0x04;
pub(super) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_CONTEXT_0: u8 = 0xA0;
pub(super) const TAG_CONTEXT_1: u8 = 0xA1;
pub(super) const TAG_CONTEXT_2: u8 = 0xA2;
pub(super) const TAG_CONTEXT_3: u8 = 0xA3;
pub(super) const TAG_CONTEXT_1_PRIMITIVE: u8 = 0x81;

/// Why a DER structure could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DerError {
    /// The input ends before the structure does.
    Truncated,
    /// The input is not the DER expected.
    Malformed(&'static str),
}

/// A cursor over a sequence of DER elements.
pub(crate) struct DerReader<'a> {
    input: &'a [u8],
}

impl<'a> DerReader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        DerReader { input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.input.first().copied()
    }

    /// Reads one element of any tag: `(tag, contents)`.
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let (&tag, rest) = self.input.split_first().ok_or(DerError::Truncated)?;
        if tag & 0x1F == 0x1F {
            return Err(DerError::Malformed("multi-byte tags are not used by keys"));
        }
        let (&first, rest) = rest.split_first().ok_or(DerError::Truncated)?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7F);
            if count == 0 {
                return Err(DerError::Malformed("indefinite length"));
            }
            if count > 4 {
                return Err(DerError::Malformed("length too large"));
            }
            let bytes = rest.get(..count).ok_or(DerError::Truncated)?;
            if bytes.first() == Some(&0) {
                return Err(DerError::Malformed("non-minimal length"));
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(DerError::Malformed("non-minimal length"));
            }
            (len, rest.get(count..).unwrap_or_default())
        };
        if rest.len() < len {
            return Err(DerError::Truncated);
        }
        let (contents, rest) = rest.split_at(len);
        self.input = rest;
        Ok((tag, contents))
    }

    /// Reads one element that must have tag `tag`.
    pub(crate) fn read(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        match self.peek_tag() {
            None => Err(DerError::Truncated),
            Some(t) if t != tag => Err(DerError::Malformed("unexpected element")),
            Some(_) => Ok(self.read_any()?.1),
        }
    }

    /// Reads the next element if it has tag `tag`.
    pub(crate) fn read_optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, DerError> {
        if self.peek_tag() == Some(tag) {
            Ok(Some(self.read_any()?.1))
        } else {
            Ok(None)
        }
    }

    /// Requires that nothing is left.
    pub(super) fn finish(self) -> Result<(), DerError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DerError::Malformed("unexpected data after the end"))
        }
    }
}

/// Reads `input` as exactly one element with tag `tag`.
pub(super) fn der_single(input: &[u8], tag: u8) -> Result<&[u8], DerError> {
    let mut reader = DerReader::new(input);
    let contents = reader.read(tag)?;
    reader.finish()?;
    Ok(contents)
}

/// The value of a small non-negative INTEGER (a version field).
pub(super) fn small_uint(contents: &[u8]) -> Option<u8> {
    match contents {
        [v] if *v < 0x80 => Some(*v),
        _ => None,
    }
}

/// The bit length of a positive INTEGER's contents.
pub(super) fn positive_integer_bits(contents: &[u8]) -> Result<usize, DerError> {
    match contents.first() {
        None => return Err(DerError::Malformed("empty INTEGER")),
        Some(b) if b & 0x80 != 0 => return Err(DerError::Malformed("negative modulus")),
        _ => {}
    }
    let start = contents
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(contents.len());
    let digits = contents.get(start..).unwrap_or_default();
    Ok(match digits.first() {
        None => 0,
        Some(&top) => (digits.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    })
}

// ---------------------------------------------------------------------------
// DER writer (for the SEC1 → PKCS#8 wrapping)

/// The encoded size of a DER length field.
fn der_length_len(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        _ => 3, // keys are far below 64 KiB
    }
}

/// The encoded size of an element with `len` bytes of contents.
pub(super) fn der_tlv_len(len: usize) -> usize {
    1 + der_length_len(len) + len
}

/// Writes a tag and length (contents of at most 65535 bytes).
pub(super) fn der_write_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_reader_reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        long.extend_from_slice(&[0x02, 0x01, 0x05]);
        let mut r = DerReader::new(&long);
        let (tag, contents) = r.read_any().unwrap();
        assert_eq!(tag, TAG_OCTET_STRING);
        assert_eq!(contents.len(), 0x80);
        assert_eq!(r.read(TAG_INTEGER).unwrap(), &[5]);
        assert!(r.is_empty());
        r.finish().unwrap();
    }

    #[test]
    fn der_reader_reports_truncation() {
        assert_eq!(DerReader::new(&[]).read_any(), Err(DerError::Truncated));
        assert_eq!(DerReader::new(&[0x30]).read_any(), Err(DerError::Truncated));
        assert_eq!(
            DerReader::new(&[0x30, 0x03, 0x02, 0x01]).read_any(),
            Err(DerError::Truncated)
        );
        assert_eq!(
            DerReader::new(&[0x30, 0x82, 0x01]).read_any(),
            Err(DerError::Truncated)
        );
    }

    #[test]
    fn der_reader_rejects_non_der_lengths_and_tags() {
        for bad in [
            &[0x30, 0x80, 0x00, 0x00][..],      // indefinite
            &[0x30, 0x81, 0x05, 1, 2, 3, 4, 5], // non-minimal
            &[0x30, 0x82, 0x00, 0x81],          // leading zero
            &[0x30, 0x85, 1, 0, 0, 0, 0],       // too many length bytes
            &[0x1F, 0x01, 0x00],                // high tag number
        ] {
            assert!(
                matches!(DerReader::new(bad).read_any(), Err(DerError::Malformed(_))),
                "{bad:02x?}"
            );
        }
        assert_eq!(
            DerReader::new(&[0x02, 0x01, 0x00]).read(TAG_SEQUENCE),
            Err(DerError::Malformed("unexpected element"))
        );
        assert!(der_single(&[0x05, 0x00, 0x00], 0x05).is_err());
    }

    #[test]
    fn positive_integer_bits_counts_significant_bits() {
        assert_eq!(positive_integer_bits(&[0x00, 0x80, 0x00]), Ok(16));
        assert_eq!(positive_integer_bits(&[0x01]), Ok(1));
        assert_eq!(positive_integer_bits(&[0x00]), Ok(0));
        assert!(positive_integer_bits(&[0x80]).is_err());
        assert!(positive_integer_bits(&[]).is_err());
    }
}
