//! [`AuthHeaders`]: the headers that authorize one API request.

use std::fmt;
use std::sync::Arc;

use ureq::http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use crate::error::Result;
use crate::secret::SecretString;
use crate::token::{sensitive_header, AccessToken};

/// The `APCA-API-KEY-ID` header name.
pub const APCA_API_KEY_ID: HeaderName = HeaderName::from_static("apca-api-key-id");
/// The `APCA-API-SECRET-KEY` header name.
pub const APCA_API_SECRET_KEY: HeaderName = HeaderName::from_static("apca-api-secret-key");

/// The headers that authorize a request to Alpaca: `Authorization: Bearer`
/// for client credentials, the APCA key headers or `Authorization: Basic`
/// for API keys. Cheap to clone; values are marked sensitive and are never
/// shown by `Debug`.
#[derive(Clone)]
pub struct AuthHeaders {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Bearer(AccessToken),
    Fixed(Arc<[(HeaderName, HeaderValue)]>),
}

impl AuthHeaders {
    pub(crate) fn bearer(token: AccessToken) -> Self {
        AuthHeaders {
            repr: Repr::Bearer(token),
        }
    }

    /// `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY`.
    pub(crate) fn api_key(key_id: &str, secret: &SecretString) -> Result<Self> {
        Ok(Self::fixed(vec![
            (
                APCA_API_KEY_ID,
                HeaderValue::from_str(key_id)
                    .map_err(|_| crate::Error::config("API key ID is not a valid header value"))?,
            ),
            (
                APCA_API_SECRET_KEY,
                sensitive_header(secret.expose_secret().as_bytes().to_vec())?,
            ),
        ]))
    }

    /// `Authorization: Basic base64(key_id:secret)`.
    pub(crate) fn basic(key_id: &str, secret: &SecretString) -> Result<Self> {
        use base64::Engine as _;
        let mut plain =
            zeroize::Zeroizing::new(Vec::with_capacity(key_id.len() + 1 + secret.len()));
        plain.extend_from_slice(key_id.as_bytes());
        plain.push(b':');
        plain.extend_from_slice(secret.expose_secret().as_bytes());
        let mut value = b"Basic ".to_vec();
        let encoded =
            zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*plain));
        value.extend_from_slice(encoded.as_bytes());
        Ok(Self::fixed(vec![(AUTHORIZATION, sensitive_header(value)?)]))
    }

    fn fixed(headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        AuthHeaders {
            repr: Repr::Fixed(headers.into()),
        }
    }

    /// The headers, as `http` crate names and values.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        let (bearer, fixed) = match &self.repr {
            Repr::Bearer(token) => (Some((&AUTHORIZATION, token.authorization())), &[][..]),
            Repr::Fixed(headers) => (None, &headers[..]),
        };
        bearer
            .into_iter()
            .chain(fixed.iter().map(|(name, value)| (name, value)))
    }

    /// How many headers there are (1 or 2).
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Bearer(_) => 1,
            Repr::Fixed(headers) => headers.len(),
        }
    }

    /// Always false: there is at least one header.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The access token, when these are bearer headers.
    pub fn access_token(&self) -> Option<&AccessToken> {
        match &self.repr {
            Repr::Bearer(token) => Some(token),
            Repr::Fixed(_) => None,
        }
    }

    /// Each header as a `Name: value` line (conventional capitalisation),
    /// ready for `curl_slist_append` or a raw request. The lines hold secrets.
    pub fn to_lines(&self) -> Vec<SecretString> {
        self.iter()
            .map(|(name, value)| {
                let mut line = String::with_capacity(24 + value.len());
                line.push_str(display_name(name));
                line.push_str(": ");
                // Values are built from printable ASCII only.
                line.push_str(value.to_str().unwrap_or_default());
                SecretString::new(line)
            })
            .collect()
    }

    /// Inserts (replacing) the headers into a `HeaderMap`.
    pub fn insert_into(&self, map: &mut HeaderMap) {
        for (name, value) in self.iter() {
            map.insert(name.clone(), value.clone());
        }
    }
}

/// The conventional spelling of a header name for `Name: value` lines.
pub(crate) fn display_name(name: &HeaderName) -> &str {
    if name == AUTHORIZATION {
        "Authorization"
    } else if name == APCA_API_KEY_ID {
        "APCA-API-KEY-ID"
    } else if name == APCA_API_SECRET_KEY {
        "APCA-API-SECRET-KEY"
    } else {
        name.as_str()
    }
}

impl fmt::Debug for AuthHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (name, _) in self.iter() {
            list.entry(&format_args!("{}: [redacted]", display_name(name)));
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_headers_use_alpacas_names() {
        let h = AuthHeaders::api_key("PKID", &SecretString::new("sec")).unwrap();
        let lines: Vec<String> = h
            .to_lines()
            .iter()
            .map(|l| l.expose_secret().to_owned())
            .collect();
        assert_eq!(
            lines,
            vec!["APCA-API-KEY-ID: PKID", "APCA-API-SECRET-KEY: sec"]
        );
        assert!(h.iter().nth(1).unwrap().1.is_sensitive());
    }

    #[test]
    fn basic_header_encodes_id_and_secret() {
        let h = AuthHeaders::basic("PKID", &SecretString::new("sec")).unwrap();
        let (name, value) = h.iter().next().unwrap();
        assert_eq!(name, AUTHORIZATION);
        // base64("PKID:sec")
        assert_eq!(value.to_str().unwrap(), "Basic UEtJRDpzZWM=");
    }

    #[test]
    fn debug_shows_names_only() {
        let h = AuthHeaders::api_key("PKID", &SecretString::new("very-secret")).unwrap();
        let d = format!("{h:?}");
        assert!(!d.contains("very-secret"), "{d}");
        assert!(d.contains("APCA-API-SECRET-KEY: [redacted]"), "{d}");
    }
}
