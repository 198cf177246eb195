//! PKCS#11 keys (the cargo feature `pkcs11`): an [`AssertionSigner`] whose
//! private key stays in a hardware or software token, named by an RFC 7512
//! `pkcs11:` URI.

mod der;
mod uri;

use std::fmt;
use std::io::Read as _;
use std::sync::Mutex;
use std::time::Instant;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use self::uri::{Pin, Pkcs11Uri};
use crate::error::{Error, Result};
use crate::fork::{self, ForkSlot};
use crate::key::{shown_path, Algorithm};
use crate::limits::MAX_PIN_LEN;
use crate::signer::{AssertionSigner, SignerError};

/// A private key in a PKCS#11 token (an HSM, a smart card, SoftHSM),
/// named by an RFC 7512 URI, signing client assertions without leaving the
/// token.
///
/// The URI names the token (`token=` label or `serial=`; never a slot
/// number, which changes), the key (`object=` label or `id=`), the module
/// (`module-path=`, loaded at run time) and the PIN (`pin-value=`, or
/// `pin-source=` a file whose first line is the PIN; the PIN is kept
/// zeroized and never shown in `Debug`, errors or events):
///
/// `pkcs11:token=Alpaca;object=jwt-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/secrets/pin`
///
/// The algorithm follows from the key: P-256 → ES256 (`CKM_ECDSA` over a
/// SHA-256 digest made here), RSA → RS256 (`CKM_SHA256_RSA_PKCS`; PS256,
/// `CKM_SHA256_RSA_PKCS_PSS`, with [`with_algorithm`](Self::with_algorithm)),
/// Ed25519 → EdDSA (`CKM_EDDSA`). The public key is read from the token
/// (the RSA key's own modulus, or the public object with the same `id` or
/// label) so every signature is verified before it is sent; without one,
/// the URI (less its query) is the key's identity.
///
/// One session per signer, behind a lock: signatures of one signer are made
/// one at a time. The module is initialised once per process and tolerates
/// another user having initialised it (`CKR_CRYPTOKI_ALREADY_INITIALIZED`);
/// it is never finalised (another part of the process may use it) and stays
/// loaded. After `fork()`, the child initialises the module and logs in
/// again on its first signature. A session that fails (device error,
/// removed token) is reopened at the next attempt: such failures are
/// transient and retried within the token budget.
pub struct Pkcs11Signer {
    uri: Pkcs11Uri,
    algorithm: Algorithm,
    public_key: Option<Vec<u8>>,
    live: ForkSlot<Mutex<Option<Live>>>,
}

/// The module, a logged-in session and the key, for one fork generation.
struct Live {
    session: Session,
    key: ObjectHandle,
    key_type: KeyType,
}

impl Pkcs11Signer {
    /// Loads the module of `uri`, logs in, finds the key and reads its type
    /// and public key.
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) for a URI that cannot be used;
    /// [`InvalidKey`](crate::ErrorKind::InvalidKey) for a module that does
    /// not load, no token or several with the label or serial, a refused
    /// PIN, no key or several, or a key that is not P-256, RSA or Ed25519.
    /// No message contains the PIN.
    pub fn open(uri: &str) -> Result<Pkcs11Signer> {
        let uri = Pkcs11Uri::parse(uri)?;
        let live = Live::open(&uri)?;
        let (algorithm, public_key) = live.describe(&uri)?;
        let slot = ForkSlot::default();
        slot.install(fork::generation(), Mutex::new(Some(live)));
        Ok(Pkcs11Signer {
            uri,
            algorithm,
            public_key,
            live: slot,
        })
    }

    /// Switches an RSA key between RS256 and PS256, or an Ed25519 key
    /// between the names `EdDSA` and `Ed25519`; anything else is a
    /// [`Config`](crate::ErrorKind::Config) error.
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<Self> {
        let rsa = |a: Algorithm| matches!(a, Algorithm::RS256 | Algorithm::PS256);
        if alg == self.algorithm
            || (rsa(alg) && rsa(self.algorithm))
            || (alg.is_ed25519() && self.algorithm.is_ed25519())
        {
            self.algorithm = alg;
            return Ok(self);
        }
        Err(Error::config(format!(
            "the PKCS#11 key {} signs {}, not {alg}",
            self.uri.identity(),
            self.algorithm
        )))
    }

    /// The URI without its query: the key's name (no module path, no PIN).
    pub fn identity(&self) -> String {
        self.uri.identity()
    }

    fn sign_now(&self, input: &[u8]) -> Result<Vec<u8>> {
        let generation = fork::generation();
        let slot = match self.live.get(generation) {
            Some(slot) => slot,
            None => self.live.install(generation, Mutex::new(None)).0,
        };
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(Live::open(&self.uri)?);
        }
        let live = guard
            .as_ref()
            .ok_or_else(|| Error::invalid_key("the PKCS#11 session is gone"))?;
        match live.sign(self.algorithm, input) {
            Ok(signature) => Ok(signature),
            Err(e) => {
                let transient = is_transient(&e);
                let error = ck_error(&self.uri, "signing", &e);
                if transient {
                    // A new session (and login) at the next attempt.
                    *guard = None;
                    return Err(error.into_transient());
                }
                Err(error)
            }
        }
    }
}

impl AssertionSigner for Pkcs11Signer {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn sign(&self, signing_input: &[u8], _deadline: Instant) -> Result<Vec<u8>, SignerError> {
        self.sign_now(signing_input).map_err(|e| {
            if e.is_transient() {
                SignerError::transient(e.message())
            } else {
                SignerError::new(e.message())
            }
        })
    }

    fn public_key(&self) -> Option<Vec<u8>> {
        self.public_key.clone()
    }

    fn identity(&self) -> Option<String> {
        Some(self.uri.identity())
    }
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("key", &self.uri.identity())
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl Live {
    fn open(uri: &Pkcs11Uri) -> Result<Live> {
        let ctx = load_module(uri)?;
        let slot = find_token(&ctx, uri)?;
        let session = ctx
            .open_ro_session(slot)
            .map_err(|e| ck_error(uri, "opening a session", &e))?;
        login(&session, uri)?;
        let key = find_one(&session, uri, ObjectClass::PRIVATE_KEY)?.ok_or_else(|| {
            Error::invalid_key(format!("no private key {} on the token", uri.identity()))
        })?;
        let key_type = match session.get_attributes(key, &[AttributeType::KeyType]) {
            Ok(attrs) => attrs.into_iter().find_map(|a| match a {
                Attribute::KeyType(t) => Some(t),
                _ => None,
            }),
            Err(e) => return Err(ck_error(uri, "reading the key type", &e)),
        }
        .ok_or_else(|| Error::invalid_key(format!("the key {} has no key type", uri.identity())))?;
        Ok(Live {
            session,
            key,
            key_type,
        })
    }

    /// The algorithm the key signs with and its public key, if found.
    fn describe(&self, uri: &Pkcs11Uri) -> Result<(Algorithm, Option<Vec<u8>>)> {
        let attr = |handle, ty| -> Result<Option<Vec<u8>>> {
            let attrs = self
                .session
                .get_attributes(handle, &[ty])
                .map_err(|e| ck_error(uri, "reading a key attribute", &e))?;
            Ok(attrs.into_iter().find_map(|a| match a {
                Attribute::EcParams(v) | Attribute::EcPoint(v) | Attribute::Modulus(v) => Some(v),
                Attribute::PublicExponent(v) => Some(v),
                _ => None,
            }))
        };
        let public_point = |ty| -> Result<Option<Vec<u8>>> {
            match find_one(&self.session, uri, ObjectClass::PUBLIC_KEY)? {
                Some(public) => attr(public, ty),
                None => Ok(None),
            }
        };
        let params = || attr(self.key, AttributeType::EcParams);
        match self.key_type {
            KeyType::EC => {
                if params()?.as_deref() != Some(der::P256_OID) {
                    return Err(wrong_type(uri, "an EC key on another curve than P-256"));
                }
                let point =
                    public_point(AttributeType::EcPoint)?.and_then(|p| der::ec_point(&p, 65));
                Ok((Algorithm::ES256, point))
            }
            KeyType::RSA => {
                let n = attr(self.key, AttributeType::Modulus)?;
                let e = attr(self.key, AttributeType::PublicExponent)?;
                let public = n.zip(e).map(|(n, e)| der::rsa_public_key(&n, &e));
                Ok((Algorithm::RS256, public))
            }
            KeyType::EC_EDWARDS => {
                if !params()?.as_deref().is_some_and(der::is_ed25519_params) {
                    return Err(wrong_type(uri, "an Edwards key that is not Ed25519"));
                }
                let point =
                    public_point(AttributeType::EcPoint)?.and_then(|p| der::ec_point(&p, 32));
                Ok((Algorithm::EdDSA, point))
            }
            _ => Err(wrong_type(uri, "neither EC, RSA nor Edwards")),
        }
    }

    fn sign(&self, alg: Algorithm, input: &[u8]) -> std::result::Result<Vec<u8>, CkError> {
        match (self.key_type, alg) {
            (KeyType::EC, _) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, input);
                self.session
                    .sign(&Mechanism::Ecdsa, self.key, digest.as_ref())
            }
            (KeyType::RSA, Algorithm::PS256) => {
                let params = PkcsPssParams {
                    hash_alg: MechanismType::SHA256,
                    mgf: PkcsMgfType::MGF1_SHA256,
                    s_len: 32.into(),
                };
                self.session
                    .sign(&Mechanism::Sha256RsaPkcsPss(params), self.key, input)
            }
            (KeyType::RSA, _) => self
                .session
                .sign(&Mechanism::Sha256RsaPkcs, self.key, input),
            _ => {
                let params = EddsaParams::new(EddsaSignatureScheme::Pure);
                self.session
                    .sign(&Mechanism::Eddsa(params), self.key, input)
            }
        }
    }
}

/// The modules loaded, one context each, kept for the life of the process:
/// a context is never dropped, so the module stays loaded and is never
/// finalised (another library in the process may use it), and a second
/// signer of the same module reuses it.
static MODULES: Mutex<Vec<(std::path::PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

/// The module of `uri`, initialised (or found initialised by another user
/// in the process, or initialised again in a forked child). [`MODULES`] is
/// only ever try-locked: when it is busy (another thread opening a signer,
/// or a forked child whose parent held it at `fork()`), the module is loaded
/// afresh and that context kept by leaking it, rather than waiting.
fn load_module(uri: &Pkcs11Uri) -> Result<Pkcs11> {
    let shown = shown_path(&uri.module_path);
    let load = || {
        Pkcs11::new(&uri.module_path)
            .map_err(|e| Error::invalid_key(format!("cannot load the PKCS#11 module {shown}: {e}")))
    };
    let ctx = match MODULES.try_lock() {
        Ok(mut modules) => match modules.iter().find(|(path, _)| *path == uri.module_path) {
            Some((_, ctx)) => ctx.clone(),
            None => {
                let ctx = load()?;
                modules.push((uri.module_path.clone(), ctx.clone()));
                ctx
            }
        },
        Err(_) => {
            let ctx = load()?;
            std::mem::forget(ctx.clone());
            ctx
        }
    };
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(ck_error(
                uri,
                &format!("initialising the module {shown}"),
                &e,
            ))
        }
    }
    Ok(ctx)
}

/// The slot of the one token with the URI's label and serial.
fn find_token(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<cryptoki::slot::Slot> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| ck_error(uri, "listing the tokens", &e))?;
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        let label = info.label().trim_end().to_owned();
        let serial = info.serial_number().trim_end().to_owned();
        let matches = uri.token.as_deref().is_none_or(|t| t == label)
            && uri.serial.as_deref().is_none_or(|s| s == serial);
        if matches {
            found.push(slot);
        }
        seen.push(format!("{label:?}"));
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(Error::invalid_key(format!(
            "no token matches {} (tokens present: {})",
            uri.identity(),
            if seen.is_empty() {
                "none".to_owned()
            } else {
                seen.join(", ")
            }
        ))),
        _ => Err(Error::invalid_key(format!(
            "{} tokens match {}: give its serial too",
            found.len(),
            uri.identity()
        ))),
    }
}

fn login(session: &Session, uri: &Pkcs11Uri) -> Result<()> {
    let pin = match &uri.pin {
        Pin::None => return Ok(()),
        Pin::Value(pin) => Zeroizing::new(pin.expose_secret().to_owned()),
        Pin::Source(path) => read_pin(path)?,
    };
    let pin = AuthPin::new(pin.as_str().into());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(ck_error(uri, "logging in", &e)),
    }
}

/// The first line of a PIN file, read once per login.
fn read_pin(path: &std::path::Path) -> Result<Zeroizing<String>> {
    let shown = shown_path(path);
    let fail =
        |e: std::io::Error| Error::invalid_key(format!("cannot read the PIN file {shown}: {e}"));
    let file = crate::key::open_regular_file(path).map_err(fail)?;
    let mut text = Zeroizing::new(String::with_capacity(MAX_PIN_LEN + 1));
    file.take(MAX_PIN_LEN as u64 + 1)
        .read_to_string(&mut text)
        .map_err(fail)?;
    let line = text.lines().next().unwrap_or_default().trim_end();
    if line.is_empty() || line.len() > MAX_PIN_LEN {
        return Err(Error::invalid_key(format!(
            "the PIN file {shown} does not start with a PIN of 1 to {MAX_PIN_LEN} bytes"
        )));
    }
    Ok(Zeroizing::new(line.to_owned()))
}

/// The one object of `class` the URI names; `None` if there is none.
fn find_one(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
) -> Result<Option<ObjectHandle>> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(object) = &uri.object {
        template.push(Attribute::Label(object.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| ck_error(uri, "searching the token", &e))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(Error::invalid_key(format!(
            "{} keys match {}: give its id too",
            found.len(),
            uri.identity()
        ))),
    }
}

fn wrong_type(uri: &Pkcs11Uri, what: &str) -> Error {
    Error::invalid_key(format!(
        "the PKCS#11 key {} is {what}: it must be P-256 (ES256), RSA (RS256, PS256) or Ed25519 (EdDSA)",
        uri.identity()
    ))
}

/// Failures a new session may mend.
fn is_transient(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceError
                | RvError::DeviceMemory
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::CryptokiNotInitialized
                | RvError::UserNotLoggedIn,
            _
        )
    )
}

/// A PKCS#11 failure as an `InvalidKey` error naming the step and the key
/// (never the PIN: it is in no cryptoki error).
fn ck_error(uri: &Pkcs11Uri, step: &str, e: &CkError) -> Error {
    let detail = match e {
        CkError::Pkcs11(rv, function) => format!("{function} returned {rv:?}"),
        other => other.to_string(),
    };
    Error::invalid_key(format!(
        "PKCS#11 {step} failed for {}: {detail}",
        uri.identity()
    ))
}
