//! PKCS#11 keys against a real SoftHSM2 token (feature `pkcs11`): a token
//! initialised in a scratch directory with its own `SOFTHSM2_CONF`, keys
//! generated on it as sensitive and non-extractable, the mock verifying
//! every assertion with the public key read from the token. Without
//! `softhsm2-util` the tests print `skipped: softhsm2-util not found`
//! (`.ci/run` installs it).

#[cfg(not(feature = "pkcs11"))]
#[test]
fn pkcs11_tests_need_the_feature() {
    println!(
        "skipped: built without the pkcs11 feature (cargo test --features pkcs11 --test pkcs11, \
         with softhsm2 installed)"
    );
}

#[cfg(feature = "pkcs11")]
mod common;

#[cfg(feature = "pkcs11")]
mod softhsm {
    use super::common;

    use std::path::PathBuf;
    use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
    use std::time::{Duration, Instant};

    use alpaca_auth::mock::jwt::RegisteredKey;
    use alpaca_auth::mock::{MockServer, MOCK_JWT_CLIENT_ID};
    use alpaca_auth::{Algorithm, AssertionSigner, Client, Credentials, ErrorKind, Pkcs11Signer};
    use common::util::on_path;
    use common::{account_status, builder, mock};
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, AttributeType, KeyType};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;

    const LABEL: &str = "alpaca-test";
    const PIN: &str = "8642097531";
    const WRONG_PIN: &str = "1357924680";
    const SO_PIN: &str = "55555555";
    const MODULES: [&str; 3] = [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ];

    /// The token and the public keys of the keys generated on it.
    struct Hsm {
        module: PathBuf,
        keys: Vec<(&'static str, Algorithm, Vec<u8>)>,
    }

    impl Hsm {
        fn uri(&self, object: &str) -> String {
            format!(
                "pkcs11:token={LABEL};object={object}?module-path={}&pin-value={PIN}",
                self.module.display()
            )
        }

        fn public_key(&self, object: &str) -> &[u8] {
            &self.keys.iter().find(|k| k.0 == object).unwrap().2
        }
    }

    /// Serializes the tests of this file: no test signs while another forks.
    fn one_at_a_time() -> MutexGuard<'static, ()> {
        static LOCK: Mutex<()> = Mutex::new(());
        LOCK.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The token, made once per test run; `None` (and a skip line) without
    /// SoftHSM2.
    fn hsm() -> Option<&'static Hsm> {
        static HSM: OnceLock<Option<Hsm>> = OnceLock::new();
        let hsm = HSM.get_or_init(|| {
            if !on_path("softhsm2-util") {
                return None;
            }
            let module = MODULES.iter().map(PathBuf::from).find(|p| p.exists())?;
            Some(make_token(module))
        });
        if hsm.is_none() {
            println!("skipped: softhsm2-util not found");
        }
        hsm.as_ref()
    }

    fn make_token(module: PathBuf) -> Hsm {
        let dir = std::env::temp_dir().join(format!("alpaca-auth-softhsm-{}", std::process::id()));
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
             slots.removable = false\nlibrary.reset_on_fork = true\n",
                tokens.display()
            ),
        )
        .unwrap();
        // SAFETY of the environment change: made once, before any module is
        // loaded, while the other tests of this file wait for this OnceLock.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        let out = std::process::Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", LABEL])
            .args(["--so-pin", SO_PIN, "--pin", PIN])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let keys = generate_keys(&module);
        Hsm { module, keys }
    }

    /// Generates the test keys on the token (sensitive, non-extractable) and
    /// reads their public keys in ring's form.
    fn generate_keys(module: &PathBuf) -> Vec<(&'static str, Algorithm, Vec<u8>)> {
        let ctx = Pkcs11::new(module).unwrap();
        let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
        let slot = ctx
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == LABEL)
            .unwrap();
        let session = ctx.open_rw_session(slot).unwrap();
        session
            .login(UserType::User, Some(&AuthPin::new(PIN.into())))
            .unwrap();
        let private = |label: &str, id: u8| {
            vec![
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(vec![id]),
            ]
        };
        let public = |label: &str, id: u8, mut extra: Vec<Attribute>| {
            extra.extend([
                Attribute::Token(true),
                Attribute::Verify(true),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(vec![id]),
            ]);
            extra
        };
        let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        let p384 = vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
        let ed25519 = vec![0x06, 0x03, 0x2b, 0x65, 0x70];
        let mut keys = Vec::new();
        for (label, id, mechanism, params, alg) in [
            (
                "es256",
                1,
                Mechanism::EccKeyPairGen,
                Some(p256),
                Algorithm::ES256,
            ),
            (
                "rsa2048",
                2,
                Mechanism::RsaPkcsKeyPairGen,
                None,
                Algorithm::RS256,
            ),
            (
                "ed25519",
                3,
                Mechanism::EccEdwardsKeyPairGen,
                Some(ed25519),
                Algorithm::EdDSA,
            ),
            (
                "p384",
                4,
                Mechanism::EccKeyPairGen,
                Some(p384),
                Algorithm::ES256,
            ),
        ] {
            let extra = match params {
                Some(params) => vec![Attribute::EcParams(params)],
                None => vec![
                    Attribute::ModulusBits(2048.into()),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                ],
            };
            let (pub_handle, priv_handle) = session
                .generate_key_pair(&mechanism, &public(label, id, extra), &private(label, id))
                .unwrap_or_else(|e| panic!("generating {label}: {e}"));
            // Generated on the token, never to leave it.
            let flags = session
                .get_attributes(
                    priv_handle,
                    &[AttributeType::Sensitive, AttributeType::Extractable],
                )
                .unwrap();
            assert!(flags.contains(&Attribute::Sensitive(true)), "{label}");
            assert!(flags.contains(&Attribute::Extractable(false)), "{label}");
            let public_key = read_public(&session, pub_handle, priv_handle);
            keys.push((label, alg, public_key));
        }
        keys
    }

    fn read_public(
        session: &cryptoki::session::Session,
        public: cryptoki::object::ObjectHandle,
        private: cryptoki::object::ObjectHandle,
    ) -> Vec<u8> {
        let attrs = session
            .get_attributes(private, &[AttributeType::KeyType])
            .unwrap();
        if attrs.contains(&Attribute::KeyType(KeyType::RSA)) {
            let key = session
                .get_attributes(
                    public,
                    &[AttributeType::Modulus, AttributeType::PublicExponent],
                )
                .unwrap();
            let (mut n, mut e) = (Vec::new(), Vec::new());
            for a in key {
                match a {
                    Attribute::Modulus(v) => n = v,
                    Attribute::PublicExponent(v) => e = v,
                    _ => {}
                }
            }
            // RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }, 2048-bit n.
            let mut der = vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00];
            der.extend(n);
            der.extend([0x02, e.len() as u8]);
            der.extend(e);
            return der;
        }
        let point = session
            .get_attributes(public, &[AttributeType::EcPoint])
            .unwrap();
        let Some(Attribute::EcPoint(point)) = point.into_iter().next() else {
            panic!("no EC point");
        };
        // A DER OCTET STRING around the point.
        point[2..].to_vec()
    }

    fn client_for(
        mock: &MockServer,
        signer: Arc<dyn AssertionSigner>,
    ) -> alpaca_auth::Result<Client> {
        builder(mock)
            .credentials(Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, signer))
            .build()
    }

    fn register(mock: &MockServer, hsm: &Hsm, object: &str, alg: Algorithm) {
        mock.register_client_key(
            MOCK_JWT_CLIENT_ID,
            RegisteredKey::new(alg, hsm.public_key(object).to_vec()),
        );
    }

    #[test]
    fn the_four_algorithms_sign_on_the_token_and_the_api_accepts_the_tokens() {
        let _serial = one_at_a_time();
        let Some(hsm) = hsm() else { return };
        for (object, alg) in [
            ("es256", Algorithm::ES256),
            ("rsa2048", Algorithm::RS256),
            ("rsa2048", Algorithm::PS256),
            ("ed25519", Algorithm::EdDSA),
        ] {
            let mock = mock();
            register(&mock, hsm, object, alg);
            let cold = Instant::now();
            let signer = Pkcs11Signer::open(&hsm.uri(object))
                .unwrap_or_else(|e| panic!("{object}: {e}"))
                .with_algorithm(alg)
                .unwrap();
            let cold = cold.elapsed();
            assert_eq!(signer.public_key().as_deref(), Some(hsm.public_key(object)));
            let signer: Arc<dyn AssertionSigner> = Arc::new(signer);
            let client =
                client_for(&mock, Arc::clone(&signer)).unwrap_or_else(|e| panic!("{alg}: {e}"));
            client
                .access_token()
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(account_status(&mock, &client), 200, "{alg}");
            // Time per signature, through the signer (the library's check of
            // each signature included).
            let far = Instant::now() + Duration::from_secs(60);
            let n = 50;
            let started = Instant::now();
            for i in 0..n {
                signer.sign(format!("input {i}").as_bytes(), far).unwrap();
            }
            let per = started.elapsed() / n;
            // The same through an in-memory key of the repository, for scale.
            let file = match alg {
                Algorithm::ES256 => "p256-pkcs8.pem",
                Algorithm::EdDSA => "ed25519-pkcs8.pem",
                _ => "rsa2048-pkcs8.pem",
            };
            let key = common::keys::load(file).with_algorithm(alg).unwrap();
            let started = Instant::now();
            for i in 0..n {
                AssertionSigner::sign(&key, format!("input {i}").as_bytes(), far).unwrap();
            }
            let in_memory = started.elapsed() / n;
            println!(
                "pkcs11 {alg}: open (module, login, key) {cold:?}, sign {per:?} (in-memory key: {in_memory:?})"
            );
        }
    }

    #[test]
    fn sixteen_threads_fetch_at_once_through_one_signer() {
        let _serial = one_at_a_time();
        let Some(hsm) = hsm() else { return };
        let mock = mock();
        register(&mock, hsm, "es256", Algorithm::ES256);
        let signer: Arc<dyn AssertionSigner> =
            Arc::new(Pkcs11Signer::open(&hsm.uri("es256")).unwrap());
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let mock_url = mock.token_url();
                let signer = Arc::clone(&signer);
                let base = mock.base_url();
                std::thread::spawn(move || {
                    let client = common::builder_for(&mock_url)
                        .api_base_url(base.clone())
                        .data_base_url(base)
                        .credentials(Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, signer))
                        .build()?;
                    client.access_token().map(|_| ())
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(mock.tokens_issued(), 16);
    }

    #[test]
    fn a_forked_child_initialises_the_module_again_and_gets_a_token() {
        let _serial = one_at_a_time();
        let Some(hsm) = hsm() else { return };
        let mock = mock();
        register(&mock, hsm, "es256", Algorithm::ES256);
        let signer: Arc<dyn AssertionSigner> =
            Arc::new(Pkcs11Signer::open(&hsm.uri("es256")).unwrap());
        let client = client_for(&mock, signer).unwrap();
        client.access_token().unwrap();
        // SAFETY: the child only uses the client (which rebuilds its state in
        // a child) and leaves with _exit; no other test of this file runs.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = match client.access_token() {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("child: {e}");
                    1
                }
            };
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status}"
        );
        // The parent's token and the child's own.
        assert_eq!(mock.tokens_issued(), 2);
        // The parent still signs with its own session.
        client.invalidate();
        client.access_token().unwrap();
    }

    #[test]
    fn bad_inputs_are_clear_errors_without_the_pin() {
        let _serial = one_at_a_time();
        let Some(hsm) = hsm() else { return };
        let module = hsm.module.display().to_string();
        let cases = [
        (
            format!("pkcs11:token={LABEL};object=es256?module-path={module}&pin-value={WRONG_PIN}"),
            ErrorKind::InvalidKey,
            "PinIncorrect",
        ),
        (
            format!("pkcs11:token={LABEL};object=es256?module-path=/nonexistent/libpkcs11.so&pin-value={PIN}"),
            ErrorKind::InvalidKey,
            "cannot load the PKCS#11 module",
        ),
        (
            format!("pkcs11:token=no-such-token;object=es256?module-path={module}&pin-value={PIN}"),
            ErrorKind::InvalidKey,
            "no token matches",
        ),
        (
            format!("pkcs11:token={LABEL};object=no-such-key?module-path={module}&pin-value={PIN}"),
            ErrorKind::InvalidKey,
            "no private key",
        ),
        (
            format!("pkcs11:token={LABEL};object=p384?module-path={module}&pin-value={PIN}"),
            ErrorKind::InvalidKey,
            "another curve than P-256",
        ),
        (
            format!("pkcs11:token={LABEL};object=es256?pin-value={PIN}"),
            ErrorKind::Config,
            "module-path is missing",
        ),
    ];
        for (uri, kind, needle) in cases {
            let err = Pkcs11Signer::open(&uri).expect_err(needle);
            assert_eq!(err.kind(), kind, "{err}");
            assert!(err.message().contains(needle), "{err}");
            assert!(
                !err.to_string().contains(PIN) && !err.to_string().contains(WRONG_PIN),
                "{err}"
            );
        }
        // A key asked to sign an algorithm it cannot.
        let err = Pkcs11Signer::open(&hsm.uri("es256"))
            .unwrap()
            .with_algorithm(Algorithm::PS256)
            .expect_err("an EC key cannot sign PS256");
        assert_eq!(err.kind(), ErrorKind::Config);
        // The PIN from a file, and never in Debug.
        let pin_file = std::env::temp_dir().join(format!("alpaca-auth-pin-{}", std::process::id()));
        std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        let signer = Pkcs11Signer::open(&format!(
            "pkcs11:token={LABEL};object=es256?module-path={module}&pin-source={}",
            pin_file.display()
        ))
        .unwrap();
        let _ = std::fs::remove_file(&pin_file);
        let debug = format!("{signer:?}");
        assert!(
            !debug.contains(PIN) && debug.contains("object=es256"),
            "{debug}"
        );
    }

    /// `APCA_CLIENT_ID` and `APCA_PKCS11_URI` configure the same key from
    /// Rust (`from_env`), the CLI and a C program (under valgrind), and the
    /// PIN of the URI is never printed.
    #[test]
    fn a_pkcs11_uri_in_the_environment_configures_rust_the_cli_and_c() {
        let _serial = one_at_a_time();
        let Some(hsm) = hsm() else { return };
        let mock = mock();
        register(&mock, hsm, "es256", Algorithm::ES256);
        let uri = hsm.uri("es256");
        let base = mock.base_url();
        let token_url = mock.token_url();
        let vars: Vec<(&str, &str)> = vec![
            ("APCA_ENVIRONMENT", "broker-sandbox"),
            ("APCA_API_BASE_URL", &base),
            ("APCA_API_DATA_URL", &base),
            ("APCA_AUTH_URL", &token_url),
            ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID),
            ("APCA_PKCS11_URI", &uri),
        ];

        let lookup = |name: &str| {
            Ok(vars
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string()))
        };
        let client = Client::builder()
            .from_env_with(&lookup)
            .and_then(|b| b.build())
            .expect("a client from the environment");
        client.access_token().expect("a token signed on the token");
        assert_eq!(account_status(&mock, &client), 200);

        let conf = std::env::var("SOFTHSM2_CONF").expect("SOFTHSM2_CONF");
        let mut env = vars.clone();
        env.push(("SOFTHSM2_CONF", &conf));
        let out = common::cli::run(&["token"], &env);
        let printed = common::cli::printed(&out);
        assert!(out.status.success(), "{printed}");
        assert!(!printed.contains(PIN), "the PIN in:\n{printed}");

        let built = common::c::built();
        let mut command = std::process::Command::new(built.program("quickstart"));
        common::c::clear_apca(&mut command);
        command.envs(env.iter().copied());
        let ran = common::c::run_under_valgrind(command, "quickstart (PKCS#11)");
        assert!(!ran.stdout.contains(PIN) && !ran.stderr.contains(PIN));
        // Rust, the CLI and the C program: one token each (no store).
        assert_eq!(mock.token_requests(), 3);
    }
}
