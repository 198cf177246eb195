//! RFC 7512 `pkcs11:` URIs, the subset that names one private key: the
//! token (label or serial), the object (label or id), the module and the
//! PIN.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::limits::MAX_PKCS11_URI_LEN;
use crate::secret::SecretString;

/// Where a PIN comes from.
#[derive(Clone)]
pub(crate) enum Pin {
    /// None: the key needs no login.
    None,
    /// `pin-value`.
    Value(SecretString),
    /// `pin-source`: a file whose first line is the PIN.
    Source(PathBuf),
}

/// A parsed `pkcs11:` URI.
#[derive(Clone)]
pub(crate) struct Pkcs11Uri {
    pub(crate) token: Option<String>,
    pub(crate) serial: Option<String>,
    pub(crate) object: Option<String>,
    pub(crate) id: Option<Vec<u8>>,
    pub(crate) module_path: PathBuf,
    pub(crate) pin: Pin,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.identity())
    }
}

impl Pkcs11Uri {
    /// Parses `uri`; errors never quote a PIN.
    pub(crate) fn parse(uri: &str) -> Result<Pkcs11Uri> {
        if uri.len() > MAX_PKCS11_URI_LEN {
            return Err(bad(format!("it is longer than {MAX_PKCS11_URI_LEN} bytes")));
        }
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("it does not start with pkcs11:".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut parsed = Pkcs11Uri {
            token: None,
            serial: None,
            object: None,
            id: None,
            module_path: PathBuf::new(),
            pin: Pin::None,
        };
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr.split_once('=').ok_or_else(|| {
                bad(format!(
                    "the path attribute {name:?} has no value",
                    name = attr
                ))
            })?;
            let value = decode(value)?;
            match name {
                "token" => parsed.token = Some(text(value, "token")?),
                "serial" => parsed.serial = Some(text(value, "serial")?),
                "object" => parsed.object = Some(text(value, "object")?),
                "id" => parsed.id = Some(value),
                "type" if value == b"private" => {}
                "type" => return Err(bad("type must be private (the signing key)".into())),
                // Attributes that narrow the token further are accepted and
                // not needed to find it by label or serial.
                "manufacturer" | "model" | "library-manufacturer" | "library-description"
                | "library-version" | "slot-description" | "slot-manufacturer" => {}
                other => {
                    return Err(bad(format!(
                        "the path attribute {other:?} is not supported (token, serial, object, id, type)"
                    )))
                }
            }
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (name, value) = attr.split_once('=').unwrap_or((attr, ""));
            match name {
                "module-path" => parsed.module_path = PathBuf::from(text(decode(value)?, "module-path")?),
                "pin-value" => {
                    let pin = String::from_utf8(decode(value)?)
                        .map_err(|_| bad("pin-value is not UTF-8".into()))?;
                    parsed.set_pin(Pin::Value(SecretString::new(pin)))?;
                }
                "pin-source" => {
                    let source = text(decode(value)?, "pin-source")?;
                    let path = source.strip_prefix("file:").unwrap_or(&source);
                    parsed.set_pin(Pin::Source(PathBuf::from(path)))?;
                }
                other => {
                    return Err(bad(format!(
                        "the query attribute {other:?} is not supported (module-path, pin-value, pin-source)"
                    )))
                }
            }
        }
        if parsed.module_path.as_os_str().is_empty() {
            return Err(bad(
                "module-path is missing: name the PKCS#11 module, as in ?module-path=/usr/lib/softhsm/libsofthsm2.so".into(),
            ));
        }
        if parsed.token.is_none() && parsed.serial.is_none() {
            return Err(bad(
                "it names no token: give token= (the label) or serial=".into()
            ));
        }
        if parsed.object.is_none() && parsed.id.is_none() {
            return Err(bad(
                "it names no key: give object= (the label) or id=".into()
            ));
        }
        Ok(parsed)
    }

    fn set_pin(&mut self, pin: Pin) -> Result<()> {
        if !matches!(self.pin, Pin::None) {
            return Err(bad(
                "it gives the PIN twice (pin-value or pin-source, once)".into(),
            ));
        }
        self.pin = pin;
        Ok(())
    }

    /// The URI without its query (no module path, no PIN): a stable name of
    /// the key, for errors and the token store.
    pub(crate) fn identity(&self) -> String {
        let mut out = String::from("pkcs11:");
        let mut parts = Vec::new();
        if let Some(token) = &self.token {
            parts.push(format!("token={}", encode(token.as_bytes())));
        }
        if let Some(serial) = &self.serial {
            parts.push(format!("serial={}", encode(serial.as_bytes())));
        }
        if let Some(object) = &self.object {
            parts.push(format!("object={}", encode(object.as_bytes())));
        }
        if let Some(id) = &self.id {
            let hex: String = id.iter().map(|b| format!("%{b:02X}")).collect();
            parts.push(format!("id={hex}"));
        }
        out.push_str(&parts.join(";"));
        out
    }
}

fn bad(why: String) -> Error {
    Error::config(format!("the pkcs11: URI is not usable: {why}"))
}

fn text(value: Vec<u8>, name: &str) -> Result<String> {
    String::from_utf8(value).map_err(|_| bad(format!("{name} is not UTF-8")))
}

/// Percent-decoding (RFC 3986).
fn decode(value: &str) -> Result<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("a % is not followed by two hex digits".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// Percent-encoding of what is not unreserved.
fn encode(value: &[u8]) -> String {
    value
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_uri_parses_and_its_identity_has_no_pin_or_module() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=Alpaca%20HSM;object=jwt-key;id=%01%02;type=private\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=12%334",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("Alpaca HSM"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 2][..]));
        assert!(matches!(&uri.pin, Pin::Value(p) if p.expose_secret() == "1234"));
        let id = uri.identity();
        assert_eq!(id, "pkcs11:token=Alpaca%20HSM;object=jwt-key;id=%01%02");
        assert!(!format!("{uri:?}").contains("1234"));
    }

    #[test]
    fn unusable_uris_are_config_errors_without_the_pin() {
        for bad in [
            "pkcs12:token=a;object=b?module-path=/m",
            "pkcs11:token=a;object=b",
            "pkcs11:object=b?module-path=/m",
            "pkcs11:token=a?module-path=/m",
            "pkcs11:token=a;object=b;type=public?module-path=/m",
            "pkcs11:token=a;object=b;slot-id=3?module-path=/m",
            "pkcs11:token=a;object=b?module-path=/m&pin-value=9876&pin-source=/p",
            "pkcs11:token=a%zz;object=b?module-path=/m&pin-value=9876",
        ] {
            let err = Pkcs11Uri::parse(bad).err().unwrap();
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{bad}");
            assert!(!err.message().contains("9876"), "{err}");
        }
    }
}
