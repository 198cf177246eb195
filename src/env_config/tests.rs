//! Tests of the environment layer: every variable, every kind of
//! credential, every partial or ambiguous setting.

use super::kinds::*;
use super::*;
use crate::{ClientBuilder, ErrorKind};
use std::collections::HashMap;

fn build(vars: &[(&str, &str)]) -> Result<ClientBuilder> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ClientBuilder::default().from_env_with(&move |name| Ok(map.get(name).cloned()))
}

fn err(vars: &[(&str, &str)]) -> Error {
    build(vars).unwrap_err()
}

fn config(vars: &[(&str, &str)]) -> Result<Config> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut config = Config::default();
    apply(&mut config, &move |name| Ok(map.get(name).cloned()))?;
    Ok(config)
}

#[test]
fn timeouts_wait_and_the_refresher_come_from_the_environment() {
    let key = [("APCA_API_KEY_ID", "PKTEST"), ("APCA_API_SECRET_KEY", "s")];
    let defaults = config(&key).unwrap();
    assert!(!defaults.background_refresh);
    assert_eq!(defaults.max_wait, None);
    let set = config(
        &[
            &key[..],
            &[
                ("APCA_CONNECT_TIMEOUT_MS", "1500"),
                ("APCA_REQUEST_TIMEOUT_MS", " 2500 "),
                ("APCA_TOKEN_BUDGET_MS", "7000"),
                ("APCA_MAX_WAIT_MS", "40"),
                ("APCA_BACKGROUND_REFRESH", "TRUE"),
            ],
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(set.transport.connect_timeout, Duration::from_millis(1500));
    assert_eq!(set.transport.request_timeout, Duration::from_millis(2500));
    assert_eq!(set.transport.budget, Duration::from_millis(7000));
    assert_eq!(set.max_wait, Some(Duration::from_millis(40)));
    assert!(set.background_refresh);
    for (name, value, says) in [
        (
            "APCA_CONNECT_TIMEOUT_MS",
            "5s",
            "whole number of milliseconds",
        ),
        ("APCA_MAX_WAIT_MS", "0", "more than zero"),
        ("APCA_TOKEN_BUDGET_MS", "600001", "at most 600 s"),
        ("APCA_BACKGROUND_REFRESH", "maybe", "true or false"),
    ] {
        let error = config(&[&key[..], &[(name, value)]].concat()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        let message = error.to_string();
        assert!(message.contains(name), "{message}");
        assert!(message.contains(says), "{message}");
    }
}

#[test]
fn refresh_and_retry_policies_come_from_the_environment() {
    let key = [("APCA_API_KEY_ID", "PKTEST"), ("APCA_API_SECRET_KEY", "s")];
    let set = config(
        &[
            &key[..],
            &[
                ("APCA_REFRESH_AHEAD_MIN_MS", "1000"),
                ("APCA_REFRESH_AHEAD_FRACTION", "0.25"),
                ("APCA_RETRY_MAX_ATTEMPTS", "2"),
                ("APCA_RETRY_INITIAL_BACKOFF_MS", "10"),
                ("APCA_RETRY_MAX_BACKOFF_MS", "20"),
            ],
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(set.refresh.get_ahead_min(), Duration::from_secs(1));
    assert_eq!(set.refresh.get_ahead_fraction(), 0.25);
    assert_eq!(set.transport.retry.get_max_attempts(), 2);
    assert_eq!(
        set.transport.retry.get_initial_backoff(),
        Duration::from_millis(10)
    );
    assert_eq!(
        set.transport.retry.get_max_backoff(),
        Duration::from_millis(20)
    );
    for (name, value, says) in [
        ("APCA_REFRESH_AHEAD_FRACTION", "1.5", "from 0 to 1"),
        ("APCA_REFRESH_AHEAD_FRACTION", "NaN", "from 0 to 1"),
        (
            "APCA_REFRESH_AHEAD_MIN_MS",
            "-1",
            "whole number of milliseconds",
        ),
        ("APCA_RETRY_MAX_ATTEMPTS", "0", "at least one attempt"),
        ("APCA_RETRY_MAX_BACKOFF_MS", "600001", "at most 600 s"),
    ] {
        let error = config(&[&key[..], &[(name, value)]].concat()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        let message = error.to_string();
        assert!(message.contains(name), "{message}");
        assert!(message.contains(says), "{message}");
    }
}

#[test]
fn api_key_from_env_builds_with_paper_default() {
    let client = build(&[
        ("APCA_API_KEY_ID", "PKTEST"),
        ("APCA_API_SECRET_KEY", "sec\n"),
    ])
    .unwrap()
    .build()
    .unwrap();
    assert_eq!(client.endpoints().environment(), Environment::Paper);
    let lines = client.auth_headers().unwrap().to_lines();
    assert_eq!(lines[1].expose_secret(), "APCA-API-SECRET-KEY: sec");
}

#[test]
fn client_secret_from_env_with_environment_and_overrides() {
    let client = build(&[
        ("APCA_ENVIRONMENT", "broker-sandbox"),
        ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789"),
        ("APCA_CLIENT_SECRET", "s"),
        ("APCA_AUTH_URL", "http://127.0.0.1:1/v1/oauth2/token"),
        ("APCA_API_BASE_URL", "http://127.0.0.1:1"),
        ("APCA_API_DATA_URL", ""),
    ])
    .unwrap()
    .build()
    .unwrap();
    assert_eq!(
        client.endpoints().token_url(),
        Some("http://127.0.0.1:1/v1/oauth2/token")
    );
    assert_eq!(
        client.endpoints().data_base(),
        "https://data.sandbox.alpaca.markets"
    );
    assert!(client.uses_tokens());
}

/// An API key and `extra` variables.
fn with_api_key<'a>(extra: &[(&'a str, &'a str)]) -> Result<ClientBuilder> {
    let mut vars = vec![(var::API_KEY_ID, "PKTEST"), (var::API_SECRET_KEY, "secret")];
    vars.extend_from_slice(extra);
    build(&vars)
}

#[test]
fn a_known_base_url_without_apca_environment_takes_its_environment() {
    let cases: &[(&str, Environment)] = &[
        ("https://api.alpaca.markets", Environment::Live),
        ("https://api.alpaca.markets/v2/", Environment::Live),
        ("https://paper-api.alpaca.markets/v2", Environment::Paper),
        ("https://broker-api.alpaca.markets/", Environment::Broker),
        (
            "https://broker-api.sandbox.alpaca.markets",
            Environment::BrokerSandbox,
        ),
    ];
    for (url, expected) in cases {
        let client = with_api_key(&[(var::API_BASE_URL, url)])
            .unwrap()
            .build()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(client.endpoints().environment(), *expected, "{url}");
    }
}

#[test]
fn the_live_base_url_alone_streams_trade_updates_from_live() {
    let client = with_api_key(&[(var::API_BASE_URL, "https://api.alpaca.markets")])
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(client.endpoints().api_base(), "https://api.alpaca.markets");
    assert_eq!(
        client.endpoints().trade_updates_stream_url(),
        Some("wss://api.alpaca.markets/stream")
    );
}

#[test]
fn apca_environment_and_a_base_url_of_another_environment_are_refused() {
    for (environment, url) in [
        ("paper", "https://api.alpaca.markets"),
        ("live", "https://paper-api.alpaca.markets/v2"),
        ("broker", "https://broker-api.sandbox.alpaca.markets/"),
        ("paper", "https://api.alpaca.markets/v2/some/path"),
    ] {
        let e = with_api_key(&[(var::ENVIRONMENT, environment), (var::API_BASE_URL, url)])
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{environment} {url}: {e}");
        for name in [var::ENVIRONMENT, var::API_BASE_URL] {
            assert!(e.message().contains(name), "{environment} {url}: {e}");
        }
    }
    // The same environment, written as the SDKs do: accepted.
    let client = with_api_key(&[
        (var::ENVIRONMENT, "live"),
        (var::API_BASE_URL, "https://api.alpaca.markets/v2"),
    ])
    .unwrap()
    .build()
    .unwrap();
    assert_eq!(client.endpoints().environment(), Environment::Live);
}

#[test]
fn an_unknown_base_url_keeps_the_environment_it_had() {
    for (extra, expected) in [
        (&[][..], Environment::Paper),
        (&[(var::ENVIRONMENT, "live")][..], Environment::Live),
    ] {
        let mut vars = vec![(var::API_BASE_URL, "https://alpaca-proxy.example.com/v2")];
        vars.extend_from_slice(extra);
        let client = with_api_key(&vars).unwrap().build().unwrap();
        assert_eq!(client.endpoints().environment(), expected, "{vars:?}");
        assert_eq!(
            client.endpoints().api_base(),
            "https://alpaca-proxy.example.com/v2"
        );
    }
}

#[test]
fn partial_and_ambiguous_settings_name_the_variables() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "APCA_API_KEY_ID"),
        (&[("APCA_API_KEY_ID", "PK")], "APCA_API_SECRET_KEY"),
        (&[("APCA_API_SECRET_KEY", "s")], "APCA_API_KEY_ID"),
        (
            &[
                ("APCA_API_KEY_ID", "PK"),
                ("APCA_API_SECRET_KEY", "s"),
                ("APCA_CLIENT_ID", "C"),
            ],
            "both",
        ),
        (&[("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789")], "exactly one"),
        (&[("APCA_CLIENT_SECRET", "s")], "APCA_CLIENT_ID"),
        (
            &[
                ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789"),
                ("APCA_CLIENT_SECRET", "s"),
                ("APCA_PRIVATE_KEY", "k"),
            ],
            "more than one",
        ),
        (
            &[
                ("APCA_ENVIRONMENT", "prod"),
                ("APCA_API_KEY_ID", "PK"),
                ("APCA_API_SECRET_KEY", "s"),
            ],
            "APCA_ENVIRONMENT",
        ),
        (
            &[
                ("APCA_API_KEY_ID", "PK"),
                ("APCA_API_SECRET_KEY", "s"),
                ("APCA_API_KEY_STYLE", "digest"),
            ],
            "APCA_API_KEY_STYLE",
        ),
        (
            &[
                ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789"),
                ("APCA_PRIVATE_KEY_PATH", "/nonexistent/key.pem"),
            ],
            "APCA_PRIVATE_KEY_PATH",
        ),
    ];
    for (vars, needle) in cases {
        let e = err(vars);
        assert!(
            matches!(e.kind(), ErrorKind::Config | ErrorKind::InvalidKey),
            "{vars:?}: {e}"
        );
        assert!(e.to_string().contains(needle), "{vars:?}: {e}");
    }
}

#[test]
fn client_credentials_on_paper_say_trading_api_has_none() {
    let e = build(&[
        ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789"),
        ("APCA_CLIENT_SECRET", "s"),
    ])
    .unwrap()
    .build()
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.message().contains("not available for the Trading API"),
        "{e}"
    );
}

#[test]
fn non_utf8_is_reported_by_name() {
    let e = ClientBuilder::default()
        .from_env_with(&|name| {
            if name == "APCA_CLIENT_SECRET" {
                Err(Error::config(format!("{name} is not valid UTF-8")))
            } else {
                Ok(None)
            }
        })
        .unwrap_err();
    assert!(e.message().contains("APCA_CLIENT_SECRET"));
}

#[test]
fn apca_ca_bundle_errors_name_the_variable_and_never_the_content() {
    let dir = std::env::temp_dir().join(format!("alpaca-auth-env-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("not-a-bundle.pem");
    std::fs::write(&secret, "CANARY-content, no certificate\n").unwrap();
    let damaged = dir.join("damaged.pem");
    std::fs::write(
        &damaged,
        "-----BEGIN CERTIFICATE-----\nCANARY!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.join("missing.pem");
    for path in [&secret, &damaged, &missing, &dir] {
        let path = path.display().to_string();
        let e = with_api_key(&[(var::CA_BUNDLE, &path)])
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{path}: {e}");
        assert!(e.message().starts_with("APCA_CA_BUNDLE: "), "{path}: {e}");
        assert!(!format!("{e} {e:?}").contains("CANARY"), "{path}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    // A file of certificates is taken.
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/certificate.pem");
    with_api_key(&[(var::CA_BUNDLE, ca)])
        .unwrap()
        .build()
        .unwrap();
}

#[test]
fn apca_tls_roots_takes_the_names_and_refuses_others() {
    for name in ["env", "bundled", "BUNDLED", "platform"] {
        with_api_key(&[(var::TLS_ROOTS, name)]).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let e = with_api_key(&[(var::TLS_ROOTS, "system")])
        .map(|_| ())
        .unwrap_err();
    assert!(e.message().starts_with("APCA_TLS_ROOTS: "), "{e}");
    assert!(e.message().contains("bundled"), "{e}");
}

/// A valid value for each variable of the table (a new variable needs
/// one here).
fn sample(name: &str) -> &'static str {
    match name {
        var::API_KEY_ID => "PKTEST",
        var::API_SECRET_KEY => "secret",
        var::API_KEY_STYLE => "headers",
        var::CLIENT_ID => "ABCDEFGHIJ0123456789",
        var::CLIENT_SECRET => "secret",
        var::PRIVATE_KEY_PATH => {
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/p256-pkcs8.pem")
        }
        var::PRIVATE_KEY => include_str!("../../tests/keys/p256-pkcs8.pem"),
        var::SCOPE => "trading",
        var::ASSERTION_AUDIENCE => "https://authx.sandbox.alpaca.markets",
        var::ASSERTION_TYP => "client-authentication+jwt",
        var::ASSERTION_LIFETIME => "90",
        var::ASSERTION_ALG => "ES256",
        var::ASSERTION_KID => "key-1",
        // No module there: the kind is selected, and opening it fails.
        var::PKCS11_URI => "pkcs11:token=t;object=k?module-path=/nonexistent/module.so",
        other => panic!("no sample value for {other}"),
    }
}

/// The `APCA_*` words of a message.
fn names_in(message: &str) -> Vec<&str> {
    message
        .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|word| word.starts_with("APCA_"))
        .collect()
}

#[test]
fn the_table_is_consistent() {
    for kind in KINDS {
        assert!(
            own(kind).next().is_some(),
            "{} has no variable of its own",
            kind.name
        );
        for name in kind.optional {
            assert!(
                !all_required().any(|r| r == *name),
                "{name} is required by a kind and optional for {}",
                kind.name
            );
        }
    }
    let all: Vec<&str> = table_variables().collect();
    for name in &all {
        assert_eq!(all.iter().filter(|n| *n == name).count(), 1, "{name}");
        assert!(name.starts_with("APCA_"), "{name}");
    }
}

/// Every combination of set and unset variables of the table: exactly
/// the combinations that make up one kind (its required variables, any
/// of its optional ones, nothing else) configure credentials, and the
/// error of every other names the variables to look at.
#[test]
fn every_combination_of_the_table_selects_one_kind_or_names_the_variables() {
    let all: Vec<&'static str> = table_variables().collect();
    assert!(
        all.len() < 20,
        "{} variables: too many combinations",
        all.len()
    );
    let mut configured = vec![0; KINDS.len()];
    for bits in 0u32..1 << all.len() {
        let set: Vec<&'static str> = (0..all.len())
            .filter(|i| bits & 1 << i != 0)
            .map(|i| all[i])
            .collect();
        let expected: Vec<usize> = (0..KINDS.len())
            .filter(|&k| {
                let kind = &KINDS[k];
                kind.required.iter().all(|name| set.contains(name))
                    && set
                        .iter()
                        .all(|name| kind.required.contains(name) || kind.optional.contains(name))
            })
            .collect();
        assert!(expected.len() <= 1, "{set:?} makes up several kinds");
        let selected = select(&|name| set.contains(&name));

        let mut vars: Vec<(&str, &str)> = vec![
            (var::ENVIRONMENT, "broker-sandbox"),
            (var::AUTH_URL, "http://127.0.0.1:1/v1/oauth2/token"),
        ];
        vars.extend(set.iter().map(|name| (*name, sample(name))));
        let built = build(&vars);

        match (expected.first(), selected) {
            (Some(&k), Ok(kind)) if KINDS[k].required.contains(&var::PKCS11_URI) => {
                assert!(std::ptr::eq(kind, &KINDS[k]), "{set:?}: {}", kind.name);
                // The sample names no module: selected, then refused
                // naming the variable (and without the feature, it).
                let e = built.map(|_| ()).unwrap_err();
                assert!(e.message().contains(var::PKCS11_URI), "{set:?}: {e}");
                configured[k] += 1;
            }
            (Some(&k), Ok(kind)) => {
                assert!(std::ptr::eq(kind, &KINDS[k]), "{set:?}: {}", kind.name);
                let client = built
                    .unwrap_or_else(|e| panic!("{set:?}: {e}"))
                    .build()
                    .unwrap_or_else(|e| panic!("{set:?}: {e}"));
                let api_key = KINDS[k].required.contains(&var::API_KEY_ID);
                assert_eq!(client.uses_tokens(), !api_key, "{set:?}");
                configured[k] += 1;
            }
            (None, Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::Config, "{set:?}: {e}");
                let built = built.map(|_| ()).unwrap_err();
                assert_eq!(built.message(), e.message(), "{set:?}");
                let named = names_in(e.message());
                for name in &named {
                    assert!(all.contains(name), "{set:?}: {name} is not a variable: {e}");
                }
                if set.iter().any(|name| all_required().any(|r| r == *name)) {
                    assert!(
                        named.iter().any(|name| set.contains(name)),
                        "{set:?}: names none of the variables set: {e}"
                    );
                } else {
                    for name in all_required() {
                        assert!(named.contains(&name), "{set:?}: {name} not named: {e}");
                    }
                }
            }
            (expected, selected) => panic!(
                "{set:?}: expected {:?}, selected {:?}",
                expected.map(|&k| KINDS[k].name),
                selected.map(|kind| kind.name)
            ),
        }
    }
    // Each kind with each subset of its optional variables.
    for (kind, count) in KINDS.iter().zip(configured) {
        assert_eq!(count, 1 << kind.optional.len(), "{}", kind.name);
    }
}

#[test]
fn apca_token_store_url_and_prefix_choose_the_redis_store() {
    const ID: (&str, &str) = ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789");
    const SECRET: (&str, &str) = ("APCA_CLIENT_SECRET", "secret");
    let url = (
        "APCA_TOKEN_STORE_URL",
        "redis://app:pw-in-url@127.0.0.1:6390/2",
    );
    let prefix = ("APCA_TOKEN_STORE_PREFIX", "fleet-a:");
    let both = config(&[ID, SECRET, url, ("APCA_TOKEN_CACHE_DIR", "/tmp/x")]).unwrap_err();
    assert!(both.message().contains("APCA_TOKEN_CACHE_DIR"), "{both}");
    let lone_prefix = config(&[ID, SECRET, prefix]).unwrap_err();
    assert!(
        lone_prefix.message().contains("APCA_TOKEN_STORE_URL"),
        "{lone_prefix}"
    );
    let bad = config(&[
        ID,
        SECRET,
        ("APCA_TOKEN_STORE_URL", "redis://u:pw-in-url@h:x"),
    ])
    .unwrap_err();
    assert!(bad.message().starts_with("APCA_TOKEN_STORE_URL: "), "{bad}");
    assert!(!bad.to_string().contains("pw-in-url"), "{bad}");
    let chosen = config(&[ID, SECRET, url, prefix]);
    if cfg!(feature = "redis") {
        let chosen = chosen.unwrap();
        let Some(StoreChoice::Redis { url: set, prefix }) = &chosen.token_store else {
            panic!("{:?}", chosen.token_store);
        };
        assert_eq!(set.expose_secret(), url.1);
        assert_eq!(prefix.as_deref(), Some("fleet-a:"));
        let debug = format!("{chosen:?}");
        assert!(!debug.contains("pw-in-url"), "{debug}");
    } else {
        let e = chosen.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("cargo feature \"redis\""), "{e}");
    }
}

#[cfg(not(feature = "pkcs11"))]
#[test]
fn a_pkcs11_uri_without_the_feature_names_the_variable_and_the_feature() {
    let error = err(&[
        ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789"),
        (
            "APCA_PKCS11_URI",
            "pkcs11:token=t;object=k?module-path=/m.so&pin-value=1234-secret-pin",
        ),
    ]);
    assert_eq!(error.kind(), ErrorKind::Config);
    let message = error.to_string();
    assert!(message.contains("APCA_PKCS11_URI"), "{message}");
    assert!(message.contains("cargo feature \"pkcs11\""), "{message}");
    assert!(!message.contains("1234-secret-pin"), "{message}");
}

#[test]
fn a_pkcs11_uri_with_a_private_key_is_ambiguous() {
    let error = err(&[
        ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789"),
        (
            "APCA_PKCS11_URI",
            "pkcs11:token=t;object=k?module-path=/m.so",
        ),
        ("APCA_PRIVATE_KEY_PATH", "/k.pem"),
    ]);
    let message = error.to_string();
    assert!(message.contains("APCA_PKCS11_URI"), "{message}");
    assert!(message.contains("APCA_PRIVATE_KEY_PATH"), "{message}");
}
