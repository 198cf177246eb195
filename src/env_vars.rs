//! The names of the `APCA_*` environment variables, and the reader of the
//! process environment: the one place they are spelled, shared by the
//! environment layer ([`env_config`](crate::env_config)) and the messages
//! that name a variable.

use crate::error::{Error, Result};

/// The names of the variables read (their meaning: README.md, section
/// "Environment variables").
pub(crate) mod var {
    pub(crate) const ENVIRONMENT: &str = "APCA_ENVIRONMENT";
    pub(crate) const API_BASE_URL: &str = "APCA_API_BASE_URL";
    pub(crate) const API_DATA_URL: &str = "APCA_API_DATA_URL";
    pub(crate) const AUTH_URL: &str = "APCA_AUTH_URL";
    pub(crate) const TOKEN_CACHE_DIR: &str = "APCA_TOKEN_CACHE_DIR";
    pub(crate) const TOKEN_STORE_URL: &str = "APCA_TOKEN_STORE_URL";
    pub(crate) const TOKEN_STORE_PREFIX: &str = "APCA_TOKEN_STORE_PREFIX";
    pub(crate) const CA_BUNDLE: &str = "APCA_CA_BUNDLE";
    pub(crate) const TLS_ROOTS: &str = "APCA_TLS_ROOTS";
    pub(crate) const API_KEY_ID: &str = "APCA_API_KEY_ID";
    pub(crate) const API_SECRET_KEY: &str = "APCA_API_SECRET_KEY";
    pub(crate) const API_KEY_STYLE: &str = "APCA_API_KEY_STYLE";
    pub(crate) const CLIENT_ID: &str = "APCA_CLIENT_ID";
    pub(crate) const CLIENT_SECRET: &str = "APCA_CLIENT_SECRET";
    pub(crate) const PRIVATE_KEY_PATH: &str = "APCA_PRIVATE_KEY_PATH";
    pub(crate) const PRIVATE_KEY: &str = "APCA_PRIVATE_KEY";
    pub(crate) const PKCS11_URI: &str = "APCA_PKCS11_URI";
    pub(crate) const SCOPE: &str = "APCA_SCOPE";
    pub(crate) const ASSERTION_AUDIENCE: &str = "APCA_ASSERTION_AUDIENCE";
    pub(crate) const ASSERTION_TYP: &str = "APCA_ASSERTION_TYP";
    pub(crate) const ASSERTION_LIFETIME: &str = "APCA_ASSERTION_LIFETIME";
    pub(crate) const ASSERTION_ALG: &str = "APCA_ASSERTION_ALG";
    pub(crate) const ASSERTION_KID: &str = "APCA_ASSERTION_KID";
    pub(crate) const CONNECT_TIMEOUT_MS: &str = "APCA_CONNECT_TIMEOUT_MS";
    pub(crate) const REQUEST_TIMEOUT_MS: &str = "APCA_REQUEST_TIMEOUT_MS";
    pub(crate) const TOKEN_BUDGET_MS: &str = "APCA_TOKEN_BUDGET_MS";
    pub(crate) const MAX_WAIT_MS: &str = "APCA_MAX_WAIT_MS";
    pub(crate) const BACKGROUND_REFRESH: &str = "APCA_BACKGROUND_REFRESH";
    pub(crate) const REFRESH_AHEAD_MIN_MS: &str = "APCA_REFRESH_AHEAD_MIN_MS";
    pub(crate) const REFRESH_AHEAD_FRACTION: &str = "APCA_REFRESH_AHEAD_FRACTION";
    pub(crate) const RETRY_MAX_ATTEMPTS: &str = "APCA_RETRY_MAX_ATTEMPTS";
    pub(crate) const RETRY_INITIAL_BACKOFF_MS: &str = "APCA_RETRY_INITIAL_BACKOFF_MS";
    pub(crate) const RETRY_MAX_BACKOFF_MS: &str = "APCA_RETRY_MAX_BACKOFF_MS";

    /// Every name above (the doctor lists those set, and calls any other
    /// `APCA_*` name ignored).
    pub(crate) const ALL: [&str; 30] = [
        ENVIRONMENT,
        API_BASE_URL,
        API_DATA_URL,
        AUTH_URL,
        TOKEN_CACHE_DIR,
        CA_BUNDLE,
        TLS_ROOTS,
        API_KEY_ID,
        API_SECRET_KEY,
        API_KEY_STYLE,
        CLIENT_ID,
        CLIENT_SECRET,
        PRIVATE_KEY_PATH,
        PRIVATE_KEY,
        SCOPE,
        ASSERTION_AUDIENCE,
        ASSERTION_TYP,
        ASSERTION_LIFETIME,
        ASSERTION_ALG,
        ASSERTION_KID,
        CONNECT_TIMEOUT_MS,
        REQUEST_TIMEOUT_MS,
        TOKEN_BUDGET_MS,
        MAX_WAIT_MS,
        BACKGROUND_REFRESH,
        REFRESH_AHEAD_MIN_MS,
        REFRESH_AHEAD_FRACTION,
        RETRY_MAX_ATTEMPTS,
        RETRY_INITIAL_BACKOFF_MS,
        RETRY_MAX_BACKOFF_MS,
    ];
}

/// Reads a variable of the process environment.
pub(crate) fn process_env(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::config(format!("{name} is not valid UTF-8")))
        }
    }
}
