//! `private_key_jwt` with an external signer (`AssertionSigner`): the
//! library builds the assertion, the signer only signs, and the mock
//! verifies every signature with the registered public key.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alpaca_auth::mock::jwt::RegisteredKey;
use alpaca_auth::mock::{generate_p256_pkcs8, MockServer, MOCK_JWT_CLIENT_ID};
use alpaca_auth::{
    Algorithm, AssertionOptions, AssertionSigner, Client, Credentials, ErrorKind, PrivateKey,
    SignerError, CLIENT_AUTHENTICATION_JWT_TYP,
};
use common::{account_status, builder, keys, mock, TOKEN_BUDGET};

/// What the test signer does on each call, in order; `Sign` once the
/// script runs out.
#[derive(Clone, Copy, Debug)]
enum Step {
    Sign,
    Fail,
    Transient,
    Garbage,
    Panic,
}

/// A signer holding a key "elsewhere" (here: a `PrivateKey` it keeps to
/// itself), that follows a script and records the deadlines it was given.
struct ScriptedSigner {
    key: PrivateKey,
    show_public_key: bool,
    identity: Option<String>,
    script: Mutex<Vec<Step>>,
    calls: AtomicUsize,
    deadlines: Mutex<Vec<Duration>>,
}

impl ScriptedSigner {
    fn new(key: PrivateKey) -> Self {
        ScriptedSigner {
            key,
            show_public_key: true,
            identity: None,
            script: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            deadlines: Mutex::new(Vec::new()),
        }
    }

    fn script(self, steps: &[Step]) -> Self {
        *self.script.lock().unwrap() = steps.iter().rev().copied().collect();
        self
    }

    fn identity_only(mut self, identity: &str) -> Self {
        self.show_public_key = false;
        self.identity = Some(identity.to_owned());
        self
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl AssertionSigner for ScriptedSigner {
    fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    fn sign(&self, input: &[u8], deadline: Instant) -> Result<Vec<u8>, SignerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.deadlines
            .lock()
            .unwrap()
            .push(deadline.saturating_duration_since(Instant::now()));
        let step = self.script.lock().unwrap().pop().unwrap_or(Step::Sign);
        match step {
            Step::Sign => AssertionSigner::sign(&self.key, input, deadline),
            Step::Fail => Err(SignerError::new(
                "the token refused the key (CKR_KEY_HANDLE_INVALID)",
            )),
            Step::Transient => Err(SignerError::transient("the signing service is busy")),
            Step::Garbage => Ok(vec![
                0x5a;
                if self.key.algorithm() == Algorithm::ES256 {
                    64
                } else {
                    256
                }
            ]),
            Step::Panic => panic!("signer bug"),
        }
    }

    fn public_key(&self) -> Option<Vec<u8>> {
        self.show_public_key.then(|| self.key.public_key().to_vec())
    }

    fn identity(&self) -> Option<String> {
        self.identity.clone()
    }
}

fn registered(mock: &MockServer, file: &str, alg: Option<Algorithm>) -> PrivateKey {
    let mut key = keys::load(file);
    if let Some(alg) = alg {
        key = key.with_algorithm(alg).unwrap();
    }
    mock.register_client_key(MOCK_JWT_CLIENT_ID, RegisteredKey::from_private_key(&key));
    key
}

fn build(mock: &MockServer, signer: &Arc<ScriptedSigner>) -> alpaca_auth::Result<Client> {
    let dyn_signer: Arc<dyn AssertionSigner> = signer.clone();
    builder(mock)
        .credentials(Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, dyn_signer))
        .build()
}

#[test]
fn each_algorithm_signed_outside_the_library_gets_a_token_the_api_accepts() {
    for (file, alg) in [
        ("p256-pkcs8.pem", None),
        ("rsa2048-pkcs8.pem", None),
        ("rsa2048-pkcs8.pem", Some(Algorithm::PS256)),
        ("ed25519-pkcs8.pem", None),
        ("ed25519-pkcs8.pem", Some(Algorithm::Ed25519)),
    ] {
        let mock = mock();
        let key = registered(&mock, file, alg);
        let expected = key.algorithm();
        let signer = Arc::new(ScriptedSigner::new(key));
        let client = build(&mock, &signer).unwrap_or_else(|e| panic!("{file}: {e}"));
        client
            .access_token()
            .unwrap_or_else(|e| panic!("{file} {expected}: {e}"));
        assert_eq!(account_status(&mock, &client), 200, "{file}");
        // One trial signature at build, one for the request.
        assert_eq!(signer.calls(), 2, "{file}");
        let log = mock.token_request_log();
        let assertion = log[0].field("client_assertion").unwrap();
        let header = keys::jwt_header(assertion);
        assert_eq!(header["alg"], expected.as_str(), "{file}");
    }
}

#[test]
fn the_signer_gets_the_deadline_of_the_token_budget() {
    let mock = mock();
    let signer = Arc::new(ScriptedSigner::new(registered(
        &mock,
        "p256-pkcs8.pem",
        None,
    )));
    let client = build(&mock, &signer).unwrap();
    client.access_token().unwrap();
    for left in signer.deadlines.lock().unwrap().iter() {
        assert!(
            *left <= TOKEN_BUDGET && *left > TOKEN_BUDGET - Duration::from_secs(2),
            "{left:?} of {TOKEN_BUDGET:?}"
        );
    }
}

#[test]
fn a_signer_that_returns_garbage_is_caught_before_any_request() {
    for file in ["p256-pkcs8.pem", "rsa2048-pkcs8.pem"] {
        let mock = mock();
        let key = registered(&mock, file, None);
        let signer = Arc::new(ScriptedSigner::new(key).script(&[Step::Garbage]));
        let err = build(&mock, &signer).expect_err("garbage refused at build");
        assert_eq!(err.kind(), ErrorKind::InvalidKey, "{err}");
        assert!(
            err.message()
                .contains("does not verify with the public key"),
            "{err}"
        );
        assert_eq!(mock.token_requests(), 0);
    }
    // A signer with another key than the one it reports.
    let mock = mock();
    registered(&mock, "p256-pkcs8.pem", None);
    struct Liar(PrivateKey, Vec<u8>);
    impl AssertionSigner for Liar {
        fn algorithm(&self) -> Algorithm {
            Algorithm::ES256
        }
        fn sign(&self, input: &[u8], deadline: Instant) -> Result<Vec<u8>, SignerError> {
            AssertionSigner::sign(&self.0, input, deadline)
        }
        fn public_key(&self) -> Option<Vec<u8>> {
            Some(self.1.clone())
        }
    }
    let other = PrivateKey::from_der(&generate_p256_pkcs8().unwrap()).unwrap();
    let claimed = keys::load("p256-pkcs8.pem").public_key().to_vec();
    let liar: Arc<dyn AssertionSigner> = Arc::new(Liar(other, claimed));
    let err = builder(&mock)
        .credentials(Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, liar))
        .build()
        .expect_err("a signer with another key is refused");
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert_eq!(mock.token_requests(), 0);
}

#[test]
fn a_signer_failure_is_invalid_key_with_its_detail_and_is_not_retried() {
    let mock = mock();
    let key = registered(&mock, "p256-pkcs8.pem", None);
    // Signs at build, then fails for good.
    let signer = Arc::new(ScriptedSigner::new(key).script(&[Step::Sign, Step::Fail]));
    let client = build(&mock, &signer).unwrap();
    let err = client.access_token().expect_err("the signer failed");
    assert_eq!(err.kind(), ErrorKind::InvalidKey, "{err}");
    assert!(err.message().contains("CKR_KEY_HANDLE_INVALID"), "{err}");
    assert_eq!(signer.calls(), 2, "a permanent failure is not retried");
    assert_eq!(mock.token_requests(), 0);
}

#[test]
fn a_transient_signer_failure_is_retried_within_the_budget() {
    let mock = mock();
    let key = registered(&mock, "p256-pkcs8.pem", None);
    let signer = Arc::new(ScriptedSigner::new(key).script(&[
        Step::Transient,
        Step::Transient,
        Step::Transient,
    ]));
    // The trial signature at build was transient: the build goes on.
    let client = build(&mock, &signer).unwrap();
    let token = client.access_token().expect("signed on the third attempt");
    assert!(!token.expose_secret().is_empty());
    assert_eq!(signer.calls(), 4);
    assert_eq!(mock.token_requests(), 1);

    // Transient for ever: the retries end with the policy's attempts.
    let key = keys::load("p256-pkcs8.pem");
    let signer = Arc::new(ScriptedSigner::new(key).script(&[Step::Sign; 1]));
    let client = build(&mock, &signer).unwrap();
    *signer.script.lock().unwrap() = vec![Step::Transient; 100];
    let err = client.access_token().expect_err("never signed");
    assert!(
        matches!(err.kind(), ErrorKind::InvalidKey | ErrorKind::Timeout),
        "{err}"
    );
    assert!(err.message().contains("busy"), "{err}");
}

#[test]
fn a_panicking_signer_is_an_error_not_a_crash() {
    let mock = mock();
    let key = registered(&mock, "p256-pkcs8.pem", None);
    let signer = Arc::new(ScriptedSigner::new(key).script(&[Step::Panic]));
    let err = build(&mock, &signer).expect_err("the panic is reported");
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(err.message().contains("panicked"), "{err}");
}

#[test]
fn a_signer_without_public_key_or_identity_is_refused_and_one_with_an_identity_works() {
    let mock = mock();
    let key = registered(&mock, "p256-pkcs8.pem", None);
    let mut anonymous = ScriptedSigner::new(key);
    anonymous.show_public_key = false;
    let err = build(&mock, &Arc::new(anonymous)).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(
        err.message()
            .contains("neither a public key nor an identity"),
        "{err}"
    );

    let key = keys::load("p256-pkcs8.pem");
    let signer = Arc::new(ScriptedSigner::new(key).identity_only("pkcs11:token=test;object=es256"));
    let client = build(&mock, &signer).unwrap();
    client.access_token().unwrap();
    assert_eq!(account_status(&mock, &client), 200);

    let key = keys::load("p256-pkcs8.pem");
    let bad = Arc::new(ScriptedSigner::new(key).identity_only("has a space"));
    assert_eq!(
        build(&mock, &bad).err().unwrap().kind(),
        ErrorKind::InvalidKey
    );
}

#[test]
fn a_signer_passes_the_strict_checks_with_audience_and_typ_options() {
    let mock = mock();
    let key = registered(&mock, "p256-pkcs8.pem", None);
    mock.require_assertion_audience(Some(&mock.issuer()));
    mock.require_assertion_typ(Some(CLIENT_AUTHENTICATION_JWT_TYP));
    let signer: Arc<dyn AssertionSigner> = Arc::new(ScriptedSigner::new(key));
    let options = AssertionOptions::new()
        .audience(mock.issuer())
        .typ(Some(CLIENT_AUTHENTICATION_JWT_TYP.into()));
    let client = builder(&mock)
        .credentials(Credentials::private_key_jwt_with(
            MOCK_JWT_CLIENT_ID,
            signer,
            options,
        ))
        .build()
        .unwrap();
    client.access_token().unwrap();
    client.invalidate();
    client
        .access_token()
        .expect("a fresh jti for the second request");
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn sixteen_threads_share_one_signer() {
    let mock = mock();
    let key = registered(&mock, "p256-pkcs8.pem", None);
    let signer = Arc::new(ScriptedSigner::new(key));
    let client = Arc::new(build(&mock, &signer).unwrap());
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let client = Arc::clone(&client);
            std::thread::spawn(move || client.access_token().map(|_| ()))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(mock.token_requests(), 1);
    assert_eq!(signer.calls(), 2);
}

#[test]
fn debug_of_credentials_with_a_signer_shows_no_key_material() {
    let key = keys::load("p256-pkcs8.pem");
    let signer: Arc<dyn AssertionSigner> = Arc::new(ScriptedSigner::new(key));
    let debug = format!(
        "{:?}",
        Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, signer)
    );
    assert!(debug.contains("ExternalSigner"), "{debug}");
    assert!(debug.contains("ES256"), "{debug}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
}
