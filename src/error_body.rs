//! Parsing of the token endpoint's error bodies: Alpaca's
//! `{"error", "fields"}` and RFC 6749 §5.2's `{"error", "error_description"}`.

use serde::Deserialize;

use crate::error::OAuthError;
use crate::limits::{MAX_CODE_CHARS, MAX_DESCRIPTION_CHARS, MAX_FIELDS};
use crate::redact::{quote, quote_or_withheld, strip};

#[derive(Deserialize)]
struct Body {
    error: Option<serde_json::Value>,
    error_description: Option<serde_json::Value>,
    message: Option<serde_json::Value>,
    fields: Option<serde_json::Value>,
}

/// Reads an OAuth error from `body`, or `None` if the body is not one.
///
/// Every piece of server text passes through [`crate::redact::quote`]: it is
/// bounded, stripped of control and invisible characters, and any echo of
/// the `secrets` is redacted or the text withheld, so the result is safe to
/// show. A known OAuth code is kept as is.
pub(crate) fn parse_error_body(body: &[u8], secrets: &[&str]) -> Option<OAuthError> {
    let parsed: Body = serde_json::from_slice(body).ok()?;
    let code = match parsed.error? {
        serde_json::Value::String(code) if !code.trim().is_empty() => code,
        _ => return None,
    };
    // A code of nothing but control characters cleans to nothing: not an
    // OAuth error body then.
    let code = strip(&code, MAX_CODE_CHARS);
    if code.is_empty() {
        return None;
    }
    let known = (is_final_code(&code) || is_retryable_code(&code))
        && !secrets
            .iter()
            .any(|s| s.to_ascii_lowercase().contains(&code.to_ascii_lowercase()));
    let code = if known {
        code
    } else {
        quote_or_withheld(&code, MAX_CODE_CHARS, secrets)
    };
    let description = parsed
        .error_description
        .or(parsed.message)
        .and_then(|v| match v {
            serde_json::Value::String(s) => Some(s),
            _ => None,
        })
        .and_then(|s| {
            if s.trim().is_empty() {
                None
            } else {
                Some(quote_or_withheld(&s, MAX_DESCRIPTION_CHARS, secrets))
            }
        })
        .filter(|s| !s.is_empty());
    let fields = match parsed.fields {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                serde_json::Value::Object(map) => map.get("name").and_then(|n| n.as_str()),
                serde_json::Value::String(name) => Some(name.as_str()),
                _ => None,
            })
            .take(MAX_FIELDS)
            .filter_map(|name| quote(name, MAX_CODE_CHARS, secrets))
            .collect(),
        _ => Vec::new(),
    };
    Some(OAuthError {
        code,
        description,
        fields,
    })
}

/// Reads Alpaca's REST error shape, `{"code": 40110000, "message": "..."}`
/// (the code a number or a string), as `"code N: message"`, quoted through
/// [`crate::redact`] like an OAuth error; `None` if the body is not one.
pub(crate) fn parse_rest_error(body: &[u8], secrets: &[&str]) -> Option<String> {
    #[derive(Deserialize)]
    struct Rest {
        code: Option<serde_json::Value>,
        message: Option<serde_json::Value>,
    }
    let parsed: Rest = serde_json::from_slice(body).ok()?;
    let message = match parsed.message? {
        serde_json::Value::String(s) if !s.trim().is_empty() => {
            quote_or_withheld(&s, MAX_DESCRIPTION_CHARS, secrets)
        }
        _ => return None,
    };
    let code = match parsed.code {
        // A number too: a secret of digits may be echoed as one.
        Some(serde_json::Value::Number(n)) => quote(&n.to_string(), MAX_CODE_CHARS, secrets),
        Some(serde_json::Value::String(s)) => quote(&s, MAX_CODE_CHARS, secrets),
        _ => None,
    };
    Some(match code {
        Some(code) => format!("code {code}: {message}"),
        None => message,
    })
}

/// Whether a token request refused with this code cannot succeed on a
/// retry, whatever the HTTP status: the OAuth codes of RFC 6749 and those
/// Alpaca documents.
pub(crate) fn is_final_code(code: &str) -> bool {
    matches!(
        code,
        "invalid_request"
            | "invalid_client"
            | "invalid_grant"
            | "unauthorized_client"
            | "unsupported_grant_type"
            | "invalid_scope"
            | "jti_known"
            | "token_signature_mismatch"
            | "misconfiguration"
    )
}

/// Whether a token request refused with this code may succeed on a retry.
pub(crate) fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "quota_exceeded" | "temporarily_unavailable" | "server_error"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpaca_rest_shape_keeps_code_and_message() {
        assert_eq!(
            parse_rest_error(
                br#"{"code":40110000,"message":"request is not authorized"}"#,
                &[]
            )
            .as_deref(),
            Some("code 40110000: request is not authorized")
        );
        assert_eq!(
            parse_rest_error(
                br#"{"code":"42210000","message":"bad sec-ret-value here"}"#,
                &["sec-ret-value"]
            )
            .as_deref(),
            Some("code 42210000: bad [redacted] here")
        );
        // A secret too short to redact reliably: the message is withheld.
        assert_eq!(
            parse_rest_error(
                br#"{"code":"42210000","message":"bad sec-ret here"}"#,
                &["sec-ret"]
            )
            .as_deref(),
            Some("[server text withheld]")
        );
        assert_eq!(
            parse_rest_error(br#"{"message":"forbidden."}"#, &[]).as_deref(),
            Some("forbidden.")
        );
        assert_eq!(parse_rest_error(br#"{"code":1}"#, &[]), None);
        assert_eq!(parse_rest_error(b"<html>", &[]), None);
        // Not an OAuth error body: the status decides the kind.
        assert!(parse_error_body(br#"{"code":40110000,"message":"x"}"#, &[]).is_none());
    }

    #[test]
    fn alpaca_shape_with_fields_parses() {
        let e = parse_error_body(
            br#"{"error":"invalid_request","fields":[{"name":"client_id"},{"name":"grant_type"}]}"#,
            &[],
        )
        .unwrap();
        assert_eq!(e.code, "invalid_request");
        assert_eq!(e.fields, vec!["client_id", "grant_type"]);
        assert_eq!(e.description, None);
    }

    #[test]
    fn rfc6749_shape_parses() {
        let e = parse_error_body(
            br#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
            &[],
        )
        .unwrap();
        assert_eq!(e.code, "invalid_client");
        assert_eq!(
            e.description.as_deref(),
            Some("client authentication failed")
        );
        assert!(e.fields.is_empty());
    }

    #[test]
    fn non_oauth_bodies_are_not_errors() {
        for body in [
            &b"<html>"[..],
            b"{}",
            br#"{"error":42}"#,
            br#"{"error":""}"#,
            br#"{"error":"\u0001\u001b"}"#,
            b"",
            br#"[1]"#,
        ] {
            assert!(parse_error_body(body, &[]).is_none());
        }
    }

    #[test]
    fn echoed_secrets_and_control_characters_are_removed() {
        let e = parse_error_body(
            br#"{"error":"invalid_client","error_description":"bad secret s3cr3t-value\n\u001b[31m"}"#,
            &["s3cr3t-value"],
        )
        .unwrap();
        let d = e.description.unwrap();
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(d.contains("[redacted]"));
        assert!(!d.chars().any(char::is_control));
    }

    #[test]
    fn long_descriptions_are_bounded() {
        let body = format!(
            r#"{{"error":"x","error_description":"{}"}}"#,
            "a".repeat(10_000)
        );
        let e = parse_error_body(body.as_bytes(), &[]).unwrap();
        assert!(e.description.unwrap().chars().count() <= MAX_DESCRIPTION_CHARS + 3);
    }
}
