//! The one redaction routine for server text quoted in an error message.
//!
//! Every piece of text a server chose (an OAuth error code, description or
//! field name, a `token_type`, an HTTP library's message about a response)
//! passes through [`quote`] before it reaches an [`Error`](crate::Error):
//!
//! 1. control characters and invisible or bidirectional format characters
//!    (U+00AD, U+200B–U+200F, U+2028/U+2029, U+202A–U+202E, U+2060–U+2064,
//!    U+2066–U+2069, U+FEFF, U+180E) are removed, so nothing can be hidden
//!    inside an echo or reorder the terminal's display;
//! 2. each secret is replaced by `[redacted]` wherever it appears, ASCII
//!    case-insensitively, raw, form-encoded (`+` or `%20` for a space, upper
//!    or lower case hex), JSON-escaped or base64-encoded (standard and URL
//!    alphabets, at every alignment);
//! 3. if doubt remains — a secret shorter than
//!    [`MIN_REDACTABLE_SECRET_LEN`], or any run of
//!    [`PARTIAL_MATCH_LEN`] letters and digits of a secret still present
//!    after step 2, whatever separates them — the text is withheld
//!    altogether and only the error code and HTTP status are kept;
//! 4. the result is bounded.

use crate::limits::{MIN_REDACTABLE_SECRET_LEN, PARTIAL_MATCH_LEN};
use base64::Engine as _;

/// What replaces an echoed secret.
pub(crate) const REDACTED: &str = "[redacted]";

/// What replaces server text that could not be shown safely.
pub(crate) const WITHHELD: &str = "[server text withheld]";

/// Whether `c` is invisible or reorders text: removed from quoted text.
pub(crate) fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Form encoding of `value` (`application/x-www-form-urlencoded`), with a
/// space as `+` or `%20` and hex digits in upper or lower case.
fn form_encode(value: &str, space_plus: bool, upper: bool) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'*' => {
                out.push(b as char)
            }
            b' ' if space_plus => out.push('+'),
            _ if upper => out.push_str(&format!("%{b:02X}")),
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

/// The encodings of `secret` a server may echo, ASCII-lowercased.
fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    for space_plus in [true, false] {
        for upper in [true, false] {
            forms.push(form_encode(secret, space_plus, upper));
        }
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    forms.push(json.trim_matches('"').to_owned());
    forms.push(json.trim_matches('"').replace('/', "\\/"));
    let engines = [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for engine in engines {
        // The secret at each of the three alignments inside a longer
        // base64 text: the characters that mix in neighbouring bytes are
        // dropped from each end.
        for shift in 0..3usize {
            let mut bytes = vec![0u8; shift];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            let skip = if shift == 0 { 0 } else { shift + 1 };
            let tail = (bytes.len() * 4) % 3;
            let end = encoded.len().saturating_sub(if tail == 0 { 0 } else { 1 });
            if skip < end {
                forms.push(encoded[skip..end].to_owned());
            }
        }
    }
    let mut forms: Vec<String> = forms
        .into_iter()
        .map(|f| f.to_ascii_lowercase())
        .filter(|f| f.len() >= MIN_REDACTABLE_SECRET_LEN.min(secret.len()).max(1))
        .collect();
    // Longest first, so a form containing another is replaced whole.
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

/// Replaces every ASCII-case-insensitive occurrence of `needle` (already
/// lowercase) in `text`.
fn replace_ignore_case(text: &str, needle: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(found) = lower[from..].find(needle) {
        let at = from + found;
        out.push_str(&text[from..at]);
        out.push_str(REDACTED);
        from = at + needle.len();
    }
    out.push_str(&text[from..]);
    out
}

/// Letters and digits only, lowercased.
fn alphanumerics(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a run of [`PARTIAL_MATCH_LEN`] letters and digits of any form of
/// `secret` appears in `text`.
fn partial_echo(text: &str, secret_forms: &[String]) -> bool {
    let haystack = alphanumerics(text);
    let marker = alphanumerics(REDACTED);
    let haystack = haystack.replace(&marker, " ");
    secret_forms.iter().any(|form| {
        let chars: Vec<char> = alphanumerics(form).chars().collect();
        chars.windows(PARTIAL_MATCH_LEN).any(|window| {
            let window: String = window.iter().collect();
            haystack.contains(&window)
        })
    })
}

/// `text` with hidden characters removed, trimmed, then bounded to
/// `max_chars` (plus `...`).
pub(crate) fn strip(text: &str, max_chars: usize) -> String {
    let out: String = text.chars().filter(|c| !is_hidden_char(*c)).collect();
    bound(out.trim(), max_chars)
}

fn bound(text: &str, max_chars: usize) -> String {
    if text.chars().count() > max_chars {
        text.chars().take(max_chars).collect::<String>() + "..."
    } else {
        text.to_owned()
    }
}

/// Server text made safe to quote: hidden characters removed, every form of
/// every secret redacted, bounded to `max_chars`. `None` when the text must
/// be withheld (see the module documentation) or is empty.
pub(crate) fn quote(text: &str, max_chars: usize, secrets: &[&str]) -> Option<String> {
    let mut out: String = text.chars().filter(|c| !is_hidden_char(*c)).collect();
    let secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    if secrets.iter().any(|s| s.len() < MIN_REDACTABLE_SECRET_LEN) {
        return None;
    }
    for secret in &secrets {
        let secret_forms = forms(secret);
        for form in &secret_forms {
            out = replace_ignore_case(&out, form);
        }
        if partial_echo(&out, &secret_forms) {
            return None;
        }
    }
    let out = out.trim();
    if out.is_empty() {
        return None;
    }
    Some(bound(out, max_chars))
}

/// [`quote`], or [`WITHHELD`] when the text cannot be shown.
pub(crate) fn quote_or_withheld(text: &str, max_chars: usize, secrets: &[&str]) -> String {
    quote(text, max_chars, secrets).unwrap_or_else(|| WITHHELD.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "S3CRET client/secret+value=XYZ";

    fn shows(text: &str) -> bool {
        match quote(text, 10_000, &[SECRET]) {
            None => false,
            Some(q) => {
                let lower = q.to_ascii_lowercase();
                lower.contains("s3cret") || lower.contains("xyz")
            }
        }
    }

    #[test]
    fn every_encoding_of_the_secret_is_redacted_or_withheld() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("x{SECRET}"));
        for echo in [
            SECRET.to_owned(),
            SECRET.to_lowercase(),
            form_encode(SECRET, true, true),
            form_encode(SECRET, false, false),
            serde_json::to_string(SECRET).unwrap(),
            format!("basic {b64}"),
            SECRET.replace('C', "C\u{200B}"),
            SECRET.replace('E', "E\u{00AD}"),
            SECRET[..12].to_owned(),
            format!("client_secret={}", form_encode(SECRET, true, true)),
        ] {
            assert!(!shows(&format!("you sent {echo} ok")), "{echo:?}");
        }
    }

    #[test]
    fn short_secrets_withhold_all_free_text() {
        for secret in ["a", "abc", "abcd", "1234567"] {
            assert_eq!(quote("client authentication failed", 100, &[secret]), None);
        }
        assert_eq!(
            quote("client authentication failed", 100, &["long-enough-secret"]).as_deref(),
            Some("client authentication failed")
        );
    }

    #[test]
    fn hidden_characters_are_removed() {
        let q = quote("a\u{202E}b\u{2066}c\u{2028}d\u{1b}[31m", 100, &[]).unwrap();
        assert_eq!(q, "abcd[31m");
    }
}
