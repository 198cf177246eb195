//! `alpaca_auth_signer`: an external signer of client assertions
//! implemented by the application in C (an HSM, a cloud KMS, a signing
//! service), given to a builder with
//! `alpaca_auth_builder_set_client_signer`. The Rust side is an
//! [`AssertionSigner`] that calls the callback.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Instant;

use super::error::Failure;
use super::result::alpaca_auth_result;
use super::{bytes_arg, str_arg};
use crate::limits::{MAX_SIGNATURE_LEN, MAX_SIGNER_DETAIL_LEN, MAX_SIGNER_IDENTITY_LEN};
use crate::signer::{es256_signature_from_der, AssertionSigner, SignerError};
use crate::Algorithm;

/// What a `sign` callback returns (as a `uint32_t`; any other value is a
/// failure too).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum alpaca_auth_sign_result {
    /// The signature is in the buffer and its length in `*signature_len_out`.
    Ok = 0,
    /// Signing failed and retrying cannot help (a missing key, a refused
    /// login): the caller gets `ALPACA_AUTH_RESULT_INVALID_KEY` with the
    /// detail message.
    Failed = 1,
    /// Signing failed and retrying may help (a busy or unreachable
    /// service): the library signs again after a backoff, within the token
    /// budget.
    Retry = 2,
}

/// The form of the signatures a `sign` callback writes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum alpaca_auth_signature_format {
    /// The JWS form: `R || S` (64 bytes) for ES256, the RSA signature for
    /// RS256 and PS256, the 64-byte signature for Ed25519.
    Jws = 0,
    /// ES256 only: the DER `SEQUENCE { INTEGER r, INTEGER s }` of OpenSSL
    /// and cloud KMS services, which the library converts to `R || S`.
    Der = 1,
}

/// Signs `signing_input` (`signing_input_len` bytes, the JWS signing input
/// `header.claims`), within `time_left_ms` milliseconds (what is left of
/// the token budget; the library cannot interrupt the callback).
///
/// On success: write the signature into `signature_buf`
/// (`signature_buf_len` bytes, `ALPACA_AUTH_MAX_SIGNATURE_LEN`), set
/// `*signature_len_out`, return `ALPACA_AUTH_SIGN_RESULT_OK`. On failure:
/// optionally write a NUL-terminated reason (no secret such as a PIN) into
/// `detail_buf` (`detail_buf_len` bytes, `ALPACA_AUTH_MAX_SIGNER_DETAIL_LEN`)
/// and return `ALPACA_AUTH_SIGN_RESULT_FAILED` or `_RETRY`.
pub type alpaca_auth_sign_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        signing_input: *const u8,
        signing_input_len: usize,
        time_left_ms: u64,
        signature_buf: *mut u8,
        signature_buf_len: usize,
        signature_len_out: *mut usize,
        detail_buf: *mut c_char,
        detail_buf_len: usize,
    ) -> u32,
>;

/// Frees a signer's `user_data` once the library no longer needs it.
pub type alpaca_auth_signer_free_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// A signer of client assertions implemented by the application, for a key
/// the library never sees. Set `struct_size` to
/// `sizeof(alpaca_auth_signer)`.
///
/// The library builds each assertion (header, claims, a fresh `jti`) and
/// calls `sign` for its signature. One of `public_key` and `identity` is
/// required: it names the key in a token store's entry, and a public key
/// also lets the library verify every signature before it is sent (a
/// signer with the wrong key, or one returning garbage, is
/// `ALPACA_AUTH_RESULT_INVALID_KEY` at `alpaca_auth_builder_build`, which
/// signs one assertion to check, never a 401 from the server).
///
/// Threading: `sign` is called on the slow path only (a token fetch, never
/// for a cached token), from any thread of the process (the caller's or
/// the library's), possibly at the same time for different clients and
/// for one client's trial and refresh: it must be thread-safe. It must not
/// call back into the client, must not `longjmp` out, and in C++ must not
/// throw. It runs on the thread that needs the token and cannot be
/// interrupted: it must return within `time_left_ms`, or it holds that
/// fetch (and the callers waiting for it, each up to its own longest wait)
/// until it returns.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct alpaca_auth_signer {
    /// `sizeof(alpaca_auth_signer)` as the caller compiled it.
    pub struct_size: usize,
    /// Passed to every callback.
    pub user_data: *mut c_void,
    /// Required: the JOSE name of the algorithm (`ES256`, `RS256`, `PS256`,
    /// `EdDSA`, `Ed25519`), copied.
    pub algorithm: *const c_char,
    /// An `alpaca_auth_signature_format` value: `_JWS` (0), or `_DER` for
    /// an ES256 signer.
    pub signature_format: u32,
    /// The public key as `public_key_len` bytes, copied, or NULL: the
    /// uncompressed P-256 point (65 bytes) for ES256, the PKCS#1
    /// `RSAPublicKey` DER for RS256 and PS256, the 32 raw bytes for
    /// Ed25519.
    pub public_key: *const u8,
    /// The length of `public_key`.
    pub public_key_len: usize,
    /// A stable name of the key (a key URI, a KMS key ARN), copied, or
    /// NULL; used when there is no public key: printable ASCII without
    /// spaces, at most `ALPACA_AUTH_MAX_SIGNER_IDENTITY_LEN` bytes.
    pub identity: *const c_char,
    /// Required.
    pub sign: alpaca_auth_sign_fn,
    /// Optional: called once per successful
    /// `alpaca_auth_builder_set_client_signer`, when the builder (if never
    /// built) or the last client using the signer is freed (a token fetch
    /// still running on a library thread keeps it until the fetch ends).
    pub free_user_data: alpaca_auth_signer_free_fn,
}

/// The size of `alpaca_auth_signer` in its first published version (up to
/// the end of `free_user_data`).
const SIGNER_V1_SIZE: usize = std::mem::offset_of!(alpaca_auth_signer, free_user_data)
    + std::mem::size_of::<alpaca_auth_signer_free_fn>();

/// The checked callbacks and the obligation to free `user_data`.
struct CallbackSigner {
    user_data: *mut c_void,
    sign: <alpaca_auth_sign_fn as IntoInner>::Fn,
    free_user_data: alpaca_auth_signer_free_fn,
    algorithm: Algorithm,
    der: bool,
    public_key: Option<Vec<u8>>,
    identity: Option<String>,
}

/// The function pointer inside a nullable callback type.
trait IntoInner {
    type Fn;
}

impl<F> IntoInner for Option<F> {
    type Fn = F;
}

// SAFETY: `user_data` is only passed back to the application's callback,
// which alpaca_auth_signer's threading rule makes callable from any thread
// at once; nothing here reads or writes through the pointer.
unsafe impl Send for CallbackSigner {}
// SAFETY: as for Send.
unsafe impl Sync for CallbackSigner {}

impl Drop for CallbackSigner {
    fn drop(&mut self) {
        if let Some(free) = self.free_user_data {
            // SAFETY: the application's callback, called once, with the
            // user_data it gave.
            unsafe { free(self.user_data) };
        }
    }
}

impl AssertionSigner for CallbackSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn sign(&self, input: &[u8], deadline: Instant) -> Result<Vec<u8>, SignerError> {
        let time_left = deadline.saturating_duration_since(Instant::now());
        let time_left_ms = u64::try_from(time_left.as_millis()).unwrap_or(u64::MAX);
        let mut signature = vec![0u8; MAX_SIGNATURE_LEN];
        let mut detail = [0u8; MAX_SIGNER_DETAIL_LEN + 1];
        let mut len = 0usize;
        // SAFETY: the application's callback with its user_data, the input
        // and buffers of the lengths given, and a valid output pointer, all
        // living across the call.
        let code = unsafe {
            (self.sign)(
                self.user_data,
                input.as_ptr(),
                input.len(),
                time_left_ms,
                signature.as_mut_ptr(),
                signature.len(),
                &mut len,
                detail.as_mut_ptr().cast::<c_char>(),
                detail.len(),
            )
        };
        let reason = || detail_text(&detail, code);
        match code {
            c if c == alpaca_auth_sign_result::Ok as u32 => {}
            c if c == alpaca_auth_sign_result::Retry as u32 => {
                return Err(SignerError::transient(reason()))
            }
            _ => return Err(SignerError::new(reason())),
        }
        if len == 0 || len > signature.len() {
            return Err(SignerError::new(format!(
                "the sign callback reported a signature of {len} bytes (1 to {} allowed)",
                signature.len()
            )));
        }
        signature.truncate(len);
        if self.der {
            return es256_signature_from_der(&signature).map(|jws| jws.to_vec());
        }
        Ok(signature)
    }

    fn public_key(&self) -> Option<Vec<u8>> {
        self.public_key.clone()
    }

    fn identity(&self) -> Option<String> {
        self.identity.clone()
    }
}

/// The callback's detail message (up to its NUL), or what it returned.
fn detail_text(detail: &[u8], code: u32) -> String {
    let end = detail.iter().position(|&b| b == 0).unwrap_or(detail.len());
    let text = String::from_utf8_lossy(detail.get(..end).unwrap_or_default());
    if text.trim().is_empty() {
        format!("the sign callback returned {code}")
    } else {
        format!("{} (the sign callback returned {code})", text.trim())
    }
}

/// A checked copy of the caller's struct as an [`AssertionSigner`], after
/// `check` (the configuration's) accepted its algorithm, public key and
/// identity; on an error nothing is kept (and `free_user_data` is not
/// called).
///
/// # Safety
///
/// `signer` is NULL or points to an `alpaca_auth_signer` of at least
/// `struct_size` readable bytes whose `struct_size` is set, and whose
/// pointers are NULL or valid as documented.
pub(crate) unsafe fn callback_signer(
    signer: *const alpaca_auth_signer,
    check: impl FnOnce(Algorithm, Option<&[u8]>, Option<&str>) -> crate::Result<()>,
) -> Result<Arc<dyn AssertionSigner>, Failure> {
    // SAFETY: forwarded caller guarantee.
    let size = unsafe { super::caller_struct_size(signer, "signer", SIGNER_V1_SIZE) }?;
    let size = size.min(std::mem::size_of::<alpaca_auth_signer>());
    let mut copy = std::mem::MaybeUninit::<alpaca_auth_signer>::zeroed();
    // SAFETY: `size` bytes are readable at `signer` (checked above) and fit
    // in `copy`; an all-zero alpaca_auth_signer is valid (NULL pointers,
    // None callbacks), and the copied bytes are the caller's fields.
    let s = unsafe {
        std::ptr::copy_nonoverlapping(signer.cast::<u8>(), copy.as_mut_ptr().cast::<u8>(), size);
        copy.assume_init()
    };
    let invalid = |message: &str| Failure::new(alpaca_auth_result::InvalidArgument, message);
    let sign = s
        .sign
        .ok_or_else(|| invalid("signer->sign is NULL: it is required"))?;
    // SAFETY: the caller's guarantee for the struct's pointers.
    let algorithm: Algorithm = unsafe { str_arg(s.algorithm, "signer->algorithm") }?.parse()?;
    let der = match s.signature_format {
        f if f == alpaca_auth_signature_format::Jws as u32 => false,
        f if f == alpaca_auth_signature_format::Der as u32 && algorithm == Algorithm::ES256 => {
            true
        }
        f if f == alpaca_auth_signature_format::Der as u32 => {
            return Err(invalid(
                "signer->signature_format is DER, which only an ES256 signer may use",
            ))
        }
        other => {
            return Err(invalid(&format!(
                "signer->signature_format is {other}: expected ALPACA_AUTH_SIGNATURE_FORMAT_JWS (0) or _DER (1)"
            )))
        }
    };
    let public_key = if s.public_key.is_null() {
        None
    } else {
        // SAFETY: the caller's guarantee: public_key_len readable bytes.
        Some(unsafe { bytes_arg(s.public_key, s.public_key_len, "signer->public_key") }?.to_vec())
    };
    let identity = if s.identity.is_null() {
        None
    } else {
        // SAFETY: the caller's guarantee: a NUL-terminated string.
        let text = unsafe { str_arg(s.identity, "signer->identity") }?;
        if text.len() > MAX_SIGNER_IDENTITY_LEN {
            return Err(invalid(
                "signer->identity is longer than ALPACA_AUTH_MAX_SIGNER_IDENTITY_LEN",
            ));
        }
        Some(text.to_owned())
    };
    check(algorithm, public_key.as_deref(), identity.as_deref())?;
    Ok(Arc::new(CallbackSigner {
        user_data: s.user_data,
        sign,
        free_user_data: s.free_user_data,
        algorithm,
        der,
        public_key,
        identity,
    }))
}
