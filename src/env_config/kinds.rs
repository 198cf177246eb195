//! The kinds of credential the environment can configure, in one table
//! ([`KINDS`]), which kind a set of variables selects ([`select`]) and the
//! credentials each kind builds.

use super::{about, Env};
use crate::assertion::AssertionOptions;
use crate::credentials::Credentials;
use crate::env_vars::var;
use crate::error::{Error, Result};
use crate::key::{Algorithm, PrivateKey};
use crate::secret::SecretString;

/// A kind of credential: the variables that make it up.
pub(super) struct Kind {
    /// What it is called in messages ("an API key").
    pub(super) name: &'static str,
    /// Every one must be set. Each kind has at least one variable that no
    /// other kind requires, which is how a setting names its kind.
    pub(super) required: &'static [&'static str],
    /// May be set with this kind; set with any other kind, an error.
    pub(super) optional: &'static [&'static str],
    /// Builds the credentials from the values read (called only when
    /// [`select`] chose this kind).
    pub(super) build: fn(&mut Values) -> Result<Credentials>,
}

/// The `APCA_ASSERTION_*` variables and the scope: what may accompany a
/// private key.
pub(super) const WITH_KEY: &[&str] = &[
    var::SCOPE,
    var::ASSERTION_AUDIENCE,
    var::ASSERTION_TYP,
    var::ASSERTION_LIFETIME,
    var::ASSERTION_ALG,
    var::ASSERTION_KID,
];

/// Every kind of credential the environment can configure.
pub(super) static KINDS: &[Kind] = &[
    Kind {
        name: "an API key",
        required: &[var::API_KEY_ID, var::API_SECRET_KEY],
        optional: &[var::API_KEY_STYLE],
        build: api_key,
    },
    Kind {
        name: "a client secret",
        required: &[var::CLIENT_ID, var::CLIENT_SECRET],
        optional: &[var::SCOPE],
        build: client_secret,
    },
    Kind {
        name: "a private key file",
        required: &[var::CLIENT_ID, var::PRIVATE_KEY_PATH],
        optional: WITH_KEY,
        build: private_key_file,
    },
    Kind {
        name: "a private key in the environment",
        required: &[var::CLIENT_ID, var::PRIVATE_KEY],
        optional: WITH_KEY,
        build: private_key_text,
    },
    Kind {
        name: "a PKCS#11 key",
        required: &[var::CLIENT_ID, var::PKCS11_URI],
        optional: WITH_KEY,
        build: pkcs11_key,
    },
];

/// The values of the variables of [`KINDS`] that are set, as read: each is
/// trimmed when taken as text, or kept whole but for a trailing newline
/// when taken as a secret.
pub(super) struct Values(Vec<(&'static str, SecretString)>);

impl Values {
    pub(super) fn read(env: &Env<'_>) -> Result<Values> {
        let mut values = Vec::new();
        for name in table_variables() {
            values.extend(env.get(name)?.map(|v| (name, SecretString::new(v))));
        }
        Ok(Values(values))
    }

    pub(super) fn is_set(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| *n == name)
    }

    pub(super) fn take(&mut self, name: &str) -> Option<SecretString> {
        let at = self.0.iter().position(|(n, _)| *n == name)?;
        Some(self.0.swap_remove(at).1)
    }

    /// A non-secret value, trimmed.
    pub(super) fn text(&mut self, name: &str) -> Option<String> {
        Some(self.take(name)?.expose_secret().trim().to_owned())
    }

    /// A secret value; a trailing newline (from `$(cat file)`) is dropped.
    pub(super) fn secret(&mut self, name: &str) -> Option<SecretString> {
        let value = self.take(name)?;
        let value = value.expose_secret().trim_end_matches(['\r', '\n']);
        Some(SecretString::new(value))
    }

    /// A value [`select`] found set, as text or as a secret.
    pub(super) fn required<T>(
        &mut self,
        name: &str,
        take: fn(&mut Self, &str) -> Option<T>,
    ) -> Result<T> {
        take(self, name).ok_or_else(|| Error::config(format!("{name} is not set")))
    }
}

/// Every variable of [`KINDS`], once each, in table order.
pub(super) fn table_variables() -> impl Iterator<Item = &'static str> {
    let mut seen = Vec::new();
    KINDS
        .iter()
        .flat_map(|kind| kind.required.iter().chain(kind.optional).copied())
        .filter(move |name| {
            let new = !seen.contains(name);
            seen.push(*name);
            new
        })
}

/// The kinds that require `name`.
pub(super) fn requiring(name: &str) -> impl Iterator<Item = &'static Kind> + '_ {
    KINDS
        .iter()
        .filter(move |kind| kind.required.contains(&name))
}

/// The required variables of `kind` that no other kind requires.
pub(super) fn own(kind: &'static Kind) -> impl Iterator<Item = &'static str> {
    kind.required
        .iter()
        .copied()
        .filter(|name| requiring(name).count() == 1)
}

/// `a`, `a and b`, `a, b and c` (with `last` for "and").
pub(super) fn list(items: impl IntoIterator<Item = String>, last: &str) -> String {
    let items: Vec<String> = items.into_iter().collect();
    match items.split_last() {
        None => String::new(),
        Some((only, [])) => only.clone(),
        Some((tail, init)) => format!("{} {last} {tail}", init.join(", ")),
    }
}

/// "an API key (APCA_API_KEY_ID + APCA_API_SECRET_KEY)".
pub(super) fn describe(kind: &Kind) -> String {
    format!("{} ({})", kind.name, kind.required.join(" + "))
}

/// The variables of `names` that are set.
pub(super) fn set_of(
    is_set: &dyn Fn(&str) -> bool,
    names: impl IntoIterator<Item = &'static str>,
) -> Vec<&'static str> {
    names.into_iter().filter(|name| is_set(name)).collect()
}

/// The variables some kind requires, once each.
pub(super) fn all_required() -> impl Iterator<Item = &'static str> {
    table_variables().filter(|name| requiring(name).next().is_some())
}

/// The kind of credential the variables set configure, or the error naming
/// what is partial or ambiguous. Only which variables are set matters.
pub(super) fn select(is_set: &dyn Fn(&str) -> bool) -> Result<&'static Kind> {
    let named: Vec<&'static Kind> = KINDS.iter().filter(|kind| own(kind).any(is_set)).collect();
    let kind = match named[..] {
        [kind] => kind,
        [] => {
            // No kind is named; a variable several kinds share may be set.
            let shared = set_of(is_set, all_required());
            return Err(Error::config(match shared.first() {
                Some(shared) => format!(
                    "{shared} is set without a way to authenticate: set exactly one of {}",
                    requiring(shared)
                        .map(|kind| own(kind).collect::<Vec<_>>().join(" + "))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => format!(
                    "no credentials in the environment: set {}",
                    list(KINDS.iter().map(describe), "or")
                ),
            }));
        }
        _ => {
            return Err(ambiguous(
                named
                    .iter()
                    .map(|kind| (set_of(is_set, own(kind)), kind.name.to_owned())),
            ))
        }
    };
    // Shared variables of other kinds, set with this one.
    let stray = set_of(
        is_set,
        all_required().filter(|name| !kind.required.contains(name)),
    );
    if !stray.is_empty() {
        let owners = KINDS
            .iter()
            .filter(|other| stray.iter().any(|name| other.required.contains(name)));
        let owners = list(owners.map(|k| k.name.to_owned()), "or");
        return Err(ambiguous([
            (
                set_of(is_set, kind.required.iter().copied()),
                kind.name.to_owned(),
            ),
            (stray, owners),
        ]));
    }
    let missing: Vec<&str> = kind
        .required
        .iter()
        .copied()
        .filter(|name| !is_set(name))
        .collect();
    if !missing.is_empty() {
        return Err(Error::config(format!(
            "{} needs {}; {} {} not set",
            kind.name,
            list(kind.required.iter().map(|n| n.to_string()), "and"),
            list(missing.iter().map(|n| n.to_string()), "and"),
            if missing.len() == 1 { "is" } else { "are" }
        )));
    }
    // Optional variables of other kinds, set with this one.
    let foreign = table_variables()
        .filter(|name| !kind.required.contains(name) && !kind.optional.contains(name));
    if let Some(name) = set_of(is_set, foreign).first() {
        let owners = KINDS.iter().filter(|k| k.optional.contains(name));
        return Err(Error::config(format!(
            "{name} is set, but it applies to {}, not to {}",
            list(owners.map(describe), "or"),
            kind.name
        )));
    }
    Ok(kind)
}

/// Variables of several kinds set together: each side is the variables set
/// and what they make up.
pub(super) fn ambiguous(sides: impl IntoIterator<Item = (Vec<&'static str>, String)>) -> Error {
    let sides: Vec<String> = sides
        .into_iter()
        .map(|(names, what)| format!("{} ({what})", names.join(", ")))
        .collect();
    Error::config(format!(
        "more than one kind of credential is set: {} are {} set: choose one",
        list(sides.iter().cloned(), "and"),
        if sides.len() == 2 { "both" } else { "all" }
    ))
}

pub(super) fn api_key(values: &mut Values) -> Result<Credentials> {
    let key_id = values.required(var::API_KEY_ID, Values::text)?;
    let secret = values.required(var::API_SECRET_KEY, Values::secret)?;
    let style = values.text(var::API_KEY_STYLE);
    match style.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(Credentials::api_key(key_id, secret)),
        Some("headers") => Ok(Credentials::api_key_headers(key_id, secret)),
        Some("basic") => Ok(Credentials::api_key_basic(key_id, secret)),
        Some(_) => Err(Error::config(format!(
            "{} must be headers or basic",
            var::API_KEY_STYLE
        ))),
    }
}

pub(super) fn client_secret(values: &mut Values) -> Result<Credentials> {
    let client_id = values.required(var::CLIENT_ID, Values::text)?;
    let secret = values.required(var::CLIENT_SECRET, Values::secret)?;
    Ok(Credentials::client_secret(client_id, secret))
}

pub(super) fn private_key_file(values: &mut Values) -> Result<Credentials> {
    let settings = assertion_settings(values)?;
    let path = values.required(var::PRIVATE_KEY_PATH, Values::text)?;
    let key = PrivateKey::from_file(&path).map_err(about(var::PRIVATE_KEY_PATH))?;
    private_key_jwt(values, key, settings)
}

pub(super) fn private_key_text(values: &mut Values) -> Result<Credentials> {
    let settings = assertion_settings(values)?;
    let pem = values.required(var::PRIVATE_KEY, Values::secret)?;
    let key = PrivateKey::from_pem(pem.expose_secret()).map_err(about(var::PRIVATE_KEY))?;
    private_key_jwt(values, key, settings)
}

/// A key on a PKCS#11 token, by its RFC 7512 URI (a secret: it may carry
/// the PIN); the signer is opened now (module loaded, session logged in).
pub(super) fn pkcs11_key(values: &mut Values) -> Result<Credentials> {
    let (options, alg) = assertion_settings(values)?;
    let uri = values.required(var::PKCS11_URI, Values::secret)?;
    let client_id = values.required(var::CLIENT_ID, Values::text)?;
    let signer =
        crate::signer::pkcs11_signer(uri.expose_secret(), alg).map_err(about(var::PKCS11_URI))?;
    Ok(Credentials::private_key_jwt_with(
        client_id, signer, options,
    ))
}

pub(super) fn private_key_jwt(
    values: &mut Values,
    mut key: PrivateKey,
    (options, alg): (AssertionOptions, Option<Algorithm>),
) -> Result<Credentials> {
    let client_id = values.required(var::CLIENT_ID, Values::text)?;
    if let Some(alg) = alg {
        key = key.with_algorithm(alg).map_err(about(var::ASSERTION_ALG))?;
    }
    Ok(Credentials::private_key_jwt_with(client_id, key, options))
}

/// The `APCA_ASSERTION_*` variables: the options of the client assertion
/// and the signing algorithm (`None` when none is set).
pub(super) fn assertion_settings(
    values: &mut Values,
) -> Result<(AssertionOptions, Option<Algorithm>)> {
    let mut options = AssertionOptions::new();
    if let Some(audience) = values.text(var::ASSERTION_AUDIENCE) {
        options = options.audience(audience);
    }
    if let Some(typ) = values.text(var::ASSERTION_TYP) {
        options = options.typ(Some(typ));
    }
    if let Some(lifetime) = values.text(var::ASSERTION_LIFETIME) {
        let secs: u64 = lifetime.parse().map_err(|_| {
            Error::config(format!(
                "{} must be a whole number of seconds (for example 120)",
                var::ASSERTION_LIFETIME
            ))
        })?;
        options = options.lifetime(std::time::Duration::from_secs(secs));
        options
            .lifetime_secs()
            .map_err(about(var::ASSERTION_LIFETIME))?;
    }
    if let Some(kid) = values.text(var::ASSERTION_KID) {
        options = options.kid(kid);
    }
    let alg = match values.text(var::ASSERTION_ALG) {
        Some(name) => Some(
            name.parse::<Algorithm>()
                .map_err(about(var::ASSERTION_ALG))?,
        ),
        None => None,
    };
    Ok((options, alg))
}
