//! The C ABI from the outside: the cdylib this `cargo test` built, the
//! committed header against a fresh cbindgen run, the programs of
//! `examples-c/` (built with their Makefile) and `tests/c/abuse.c` run
//! against the in-process mock server under valgrind memcheck, the Python
//! ctypes script, the SONAME, the exported symbols, and `make install` with
//! pkg-config.
//!
//! Needs gcc/g++ (`cc`, `c++`), make, valgrind, readelf, nm, pkg-config and a
//! pinned cbindgen; `.ci/run` installs the ones a clean machine lacks. A
//! missing tool fails the test that needs it, with the command to install it.
//! python3 and libcurl's headers are optional: without them their test says
//! so and passes.
#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use alpaca_auth::mock::{
    generate_p256_pkcs8, Fault, MockServer, RegisteredKey, MOCK_API_KEY_ID, MOCK_API_SECRET_KEY,
    MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, MOCK_JWT_CLIENT_ID,
};
use alpaca_auth::PrivateKey;

/// The cbindgen version the committed header is generated with.
const CBINDGEN_VERSION: &str = "0.29.4";

/// Longest a C program may run (valgrind included) before it is killed.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(120);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where this `cargo test` run put `libalpaca_auth.so` and `.a`: cargo
/// compiles the library (every crate type of `[lib]`) into `deps/`, beside
/// this test binary, before the tests that use it, so the files there are
/// those of these sources whatever the target directory. (Only `cargo build`
/// copies them up to the profile directory.)
fn cargo_libdir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe
        .parent()
        .expect("the test binary lives in <target>/<profile>/deps");
    for file in ["libalpaca_auth.so", "libalpaca_auth.a"] {
        assert!(
            deps.join(file).exists(),
            "{} is missing: run the tests through cargo (`cargo test`), which builds it",
            deps.join(file).display()
        );
    }
    deps.to_path_buf()
}

/// Scratch space of this test binary (under the target directory).
fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-abi")
}

fn has_tool(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn require_tool(tool: &str, install: &str) {
    assert!(has_tool(tool), "{tool} is required by this test: {install}");
}

/// What a finished program did.
#[derive(Debug)]
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_success(&self, what: &str) {
        assert_eq!(
            self.status,
            Some(0),
            "{what} failed (99 = valgrind found errors or definite leaks)\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
    }

    fn lines_starting(&self, prefix: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter_map(|line| line.strip_prefix(prefix))
            .collect()
    }

    fn value(&self, prefix: &str) -> &str {
        let values = self.lines_starting(prefix);
        assert_eq!(
            values.len(),
            1,
            "expected one line starting {prefix:?} in:\n{}",
            self.stdout
        );
        values[0]
    }
}

/// Runs `command` to completion (killed after `PROGRAM_TIMEOUT`), its
/// output sent to files so that a full pipe never blocks it.
fn run(mut command: Command, name: &str) -> Run {
    let dir = scratch().join("runs");
    fs::create_dir_all(&dir).expect("scratch directory");
    // Tests run in parallel threads of one process: number the runs.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let number = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let unique = format!("{name}-{}-{number}", std::process::id());
    let out_path = dir.join(format!("{unique}.out"));
    let err_path = dir.join(format!("{unique}.err"));
    command
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"));
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e} ({command:?})"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status.code();
        }
        if started.elapsed() > PROGRAM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |path: &Path| {
        let mut text = String::new();
        fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .expect("program output");
        let _ = fs::remove_file(path);
        text
    };
    Run {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// The programs, built once per test binary.
struct Built {
    out: PathBuf,
    libdir: PathBuf,
}

impl Built {
    fn program(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
    BUILT
        .get_or_init(build_programs)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn build_programs() -> Result<Built, String> {
    let libdir = cargo_libdir();
    let out = scratch().join("build");
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (tool, install) in [
        ("make", "apt-get install make"),
        ("cc", "apt-get install gcc"),
        ("c++", "apt-get install g++"),
    ] {
        if !has_tool(tool) {
            return Err(format!(
                "{tool} is required to build the C programs: {install}"
            ));
        }
    }
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(root().join("examples-c"))
        .arg(format!("OUT={}", out.display()))
        .arg(format!("CARGO_LIBDIR={}", libdir.display()));
    let made = run(make, "make");
    if made.status != Some(0) {
        return Err(format!(
            "make -C examples-c failed\n{}\n{}",
            made.stdout, made.stderr
        ));
    }
    if made.stdout.contains("libcurl headers not found") {
        eprintln!("note: libcurl headers not found: curl_example is not built or run");
    }
    for program in ["abuse", "refresher", "soak", "incidents"] {
        let mut cc = Command::new("cc");
        cc.args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-g",
        ])
        .arg(format!("-I{}", root().join("include").display()))
        .arg("-pthread")
        .arg("-o")
        .arg(out.join(program))
        .arg(root().join(format!("tests/c/{program}.c")))
        .arg(format!("-L{}", out.display()))
        .arg("-lalpaca_auth")
        .arg("-Wl,-rpath,$ORIGIN");
        let compiled = run(cc, &format!("cc-{program}"));
        if compiled.status != Some(0) {
            return Err(format!(
                "compiling tests/c/{program}.c failed\n{}",
                compiled.stderr
            ));
        }
    }
    Ok(Built { out, libdir })
}

fn mock() -> MockServer {
    MockServer::start().expect("the mock server starts on loopback")
}

/// A command with no `APCA_*` variable of the developer's environment, and
/// every URL pointed at `mock`.
fn command_for(program: &Path, mock: &MockServer) -> Command {
    let mut command = Command::new(program);
    clear_apca(&mut command);
    command
        .env("APCA_ENVIRONMENT", "broker-sandbox")
        .env("APCA_API_BASE_URL", mock.base_url())
        .env("APCA_API_DATA_URL", mock.base_url())
        .env("APCA_AUTH_URL", mock.token_url());
    command
}

fn clear_apca(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("APCA_") {
            command.env_remove(name);
        }
    }
}

fn with_client_secret(command: &mut Command) -> &mut Command {
    command
        .env("APCA_CLIENT_ID", MOCK_CLIENT_ID)
        .env("APCA_CLIENT_SECRET", MOCK_CLIENT_SECRET)
}

/// The same command under valgrind memcheck: any error, or any definitely
/// lost block, makes it exit 99.
fn under_valgrind(command: Command) -> Command {
    require_tool(
        "valgrind",
        "apt-get install valgrind (.ci/run installs it when missing)",
    );
    let mut wrapped = Command::new("valgrind");
    wrapped.args([
        "-q",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--show-leak-kinds=definite",
    ]);
    wrapped.arg(command.get_program()).args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    wrapped
}

/// `GET /v2/account` on the mock with these header lines; the status.
fn account_status(mock: &MockServer, header_lines: &[&str]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(format!("{}/v2/account", mock.base_url()));
    for line in header_lines {
        let (name, value) = line.split_once(": ").expect("a Name: value line");
        request = request.header(name, value);
    }
    request.call().expect("the mock answers").status().as_u16()
}

fn bearer_token(line: &str) -> &str {
    line.strip_prefix("Authorization: Bearer ")
        .unwrap_or_else(|| panic!("not a bearer header: {line:?}"))
}

#[test]
fn quickstart_prints_a_bearer_header_the_mock_accepts() {
    let built = built();
    let mock = mock();
    let mut command = command_for(&built.program("quickstart"), &mock);
    with_client_secret(&mut command);
    let run = run(under_valgrind(command), "quickstart");
    run.assert_success("quickstart under valgrind");

    assert_eq!(
        run.value("alpaca-auth "),
        format!("{0} (header {0})", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(run.value("environment: "), "broker-sandbox");
    assert_eq!(run.value("api base: "), mock.base_url());
    assert_eq!(run.value("token url: "), mock.token_url());
    let line = run.value("header: ");
    let token = bearer_token(line);
    assert!(
        mock.is_token_valid(token),
        "the mock did not issue {token:?}"
    );
    assert_eq!(account_status(&mock, &[line]), 200);
    assert_eq!(
        run.value("access token: "),
        format!("{} bytes", token.len())
    );
    assert_eq!(run.value("token requests: "), "1");
    assert_eq!(
        mock.token_requests(),
        1,
        "one token request for the whole run"
    );
}

#[test]
fn quickstart_with_an_api_key_prints_the_apca_headers() {
    let built = built();
    let mock = mock();
    let mut command = command_for(&built.program("quickstart"), &mock);
    command
        .env("APCA_API_KEY_ID", MOCK_API_KEY_ID)
        .env("APCA_API_SECRET_KEY", MOCK_API_SECRET_KEY);
    let run = run(under_valgrind(command), "quickstart-api-key");
    run.assert_success("quickstart with an API key under valgrind");

    let lines = run.lines_starting("header: ");
    assert_eq!(
        lines,
        vec![
            format!("APCA-API-KEY-ID: {MOCK_API_KEY_ID}"),
            format!("APCA-API-SECRET-KEY: {MOCK_API_SECRET_KEY}"),
        ]
    );
    assert_eq!(account_status(&mock, &lines), 200);
    assert!(run.lines_starting("access token: ").is_empty());
    assert_eq!(mock.token_requests(), 0, "API keys need no token");
}

#[test]
fn quickstart_with_private_key_jwt_gets_a_token() {
    let built = built();
    let mock = mock();
    let der = generate_p256_pkcs8().expect("a fresh P-256 key");
    let key = PrivateKey::from_der(&der).expect("the generated key loads");
    mock.register_client_key(MOCK_JWT_CLIENT_ID, RegisteredKey::from_private_key(&key));
    let dir = scratch().join("keys");
    fs::create_dir_all(&dir).expect("key directory");
    let key_path = dir.join(format!("jwt-{}.der", std::process::id()));
    fs::write(&key_path, &*der).expect("key file");

    let mut command = command_for(&built.program("quickstart"), &mock);
    command
        .env("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID)
        .env("APCA_PRIVATE_KEY_PATH", &key_path);
    let run = run(under_valgrind(command), "quickstart-jwt");
    let _ = fs::remove_file(&key_path);
    run.assert_success("quickstart with private_key_jwt under valgrind");

    let line = run.value("header: ");
    assert!(mock.is_token_valid(bearer_token(line)));
    assert_eq!(account_status(&mock, &[line]), 200);
    let log = mock.token_request_log();
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0].field("client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert_eq!(log[0].field("client_secret"), None);
}

#[test]
fn hammer_32_threads_make_exactly_one_token_request() {
    let built = built();
    let mock = mock();
    // Every thread arrives while the one request is still in flight.
    mock.set_token_delay(Duration::from_millis(300));
    let mut command = command_for(&built.program("hammer"), &mock);
    with_client_secret(&mut command).arg("3");
    let run = run(under_valgrind(command), "hammer");
    run.assert_success("hammer under valgrind");

    assert_eq!(run.value("threads: "), "32");
    assert_eq!(run.value("calls: "), "192");
    assert_eq!(run.value("failures: "), "0");
    assert_eq!(run.value("distinct tokens: "), "1");
    assert_eq!(run.value("token fetches: "), "1");
    assert_eq!(run.value("token requests: "), "1");
    assert_eq!(mock.token_requests(), 1, "the mock saw one token request");
}

/// Incident: 32 C threads got a 401 for the same token and each report it
/// (bare token or header line) within 0.5 s: one new token request, and
/// every thread gets the new token. (Before: one request per report.)
#[test]
fn incident_401_storm_from_32_threads_makes_one_token_request() {
    let built = built();
    let mock = mock();
    mock.set_token_delay(Duration::from_millis(50));
    let mut command = command_for(&built.program("incidents"), &mock);
    with_client_secret(&mut command).arg("storm");
    let run = run(under_valgrind(command), "incidents storm");
    run.assert_success("tests/c/incidents.c storm under valgrind");
    assert_eq!(run.value("failures: "), "0");
    assert_eq!(run.value("served the rejected token: "), "0");
    assert_eq!(run.value("distinct new tokens: "), "1");
    assert_eq!(
        run.value("token requests: "),
        "2",
        "the first token and one new"
    );
    assert_eq!(mock.token_requests(), 2);
    let slowest: f64 = run
        .value("slowest report + header ms: ")
        .parse()
        .expect("ms");
    assert!(slowest < 5000.0, "{slowest} ms");
}

/// Incident: `fork()` in four states of the parent (idle, first token
/// request in flight, background refresh under way, other threads in the
/// client's locks). Every child gets a header with one token request of
/// its own and frees the client in under 0.5 s; the parent carries on.
/// (Before: the child of an in-flight fetch got `TIMEOUT` after budget +
/// 5 s on every call, and its `client_free` waited 2 s.)
#[test]
fn incident_fork_in_every_state_gives_the_child_a_working_client() {
    let built = built();
    let mock = mock();
    mock.set_token_delay(Duration::from_millis(500));
    mock.set_expires_in(2);
    let mut command = command_for(&built.program("incidents"), &mock);
    with_client_secret(&mut command).arg("fork");
    let run = run(command, "incidents fork");
    run.assert_success("tests/c/incidents.c fork");
    for state in [
        "idle",
        "first fetch in flight",
        "background refresher refreshing",
        "locks held by other threads (10 forks)",
    ] {
        assert_eq!(run.value(&format!("fork {state}: ")), "0", "{state}");
    }
    let free_ms: f64 = run.value("parent free ms: ").parse().expect("ms");
    assert!(free_ms < 2500.0, "{free_ms}");
}

/// The order path from C: `try_header_line` never waits (WOULD_BLOCK at
/// once without a token, nothing written), a blocking call waits at most
/// `max_wait`, and the one token request lands for a later try.
#[test]
fn try_header_line_never_blocks_and_max_wait_bounds_the_wait() {
    let built = built();
    let mock = mock();
    mock.set_token_delay(Duration::from_millis(1500));
    let mut command = command_for(&built.program("incidents"), &mock);
    with_client_secret(&mut command).arg("try");
    let run = run(under_valgrind(command), "incidents try");
    run.assert_success("tests/c/incidents.c try under valgrind");
    let first = run.value("first try: ");
    assert!(first.starts_with("would_block in ms: "), "{first}");
    let first_ms: f64 = first
        .trim_start_matches("would_block in ms: ")
        .split(',')
        .next()
        .and_then(|ms| ms.parse().ok())
        .expect("ms");
    // Far less than the endpoint's 1.5 s (valgrind and a loaded machine
    // included).
    assert!(first_ms < 750.0, "{first_ms} ms");
    assert!(first.ends_with("len written: no"), "{first}");
    let blocking = run.value("blocking call: ");
    assert!(blocking.starts_with("timeout after ms: "), "{blocking}");
    assert_eq!(run.value("later try: "), "ok, bearer: yes");
    assert_eq!(run.value("token requests: "), "1");
    assert_eq!(run.value("token fetched events: "), "1");
    // 899 s less the 10 s expiry margin, less the test's own time.
    let remaining: u64 = run.value("remaining s: ").parse().expect("s");
    assert!((870..=889).contains(&remaining), "{remaining}");
    assert_eq!(mock.token_requests(), 1);
}

#[test]
fn background_refresher_from_c_rotates_tokens_and_stops_cleanly() {
    let built = built();
    let mock = mock();
    mock.set_expires_in(2); // refreshed every second
    let mut command = command_for(&built.program("refresher"), &mock);
    with_client_secret(&mut command);
    let run = run(under_valgrind(command), "refresher");
    run.assert_success("tests/c/refresher.c under valgrind");

    let distinct: u32 = run.value("distinct tokens: ").parse().expect("a count");
    let refreshes: u64 = run.value("refreshes: ").parse().expect("a count");
    assert!(
        distinct >= 3,
        "the fast path followed the rotations: {distinct}"
    );
    assert!(refreshes >= 3, "{refreshes}");
    assert_eq!(
        run.value("threads while running: "),
        "+1",
        "one refresher thread"
    );
    assert_eq!(
        run.value("threads after free: "),
        "same",
        "no thread left behind"
    );
    let requests = mock.token_requests();
    assert!(
        (3..=6).contains(&requests),
        "one request per rotation: {requests}"
    );
}

/// The soak of `tests/soak.rs` through the C ABI: 64 threads, 10,000
/// header lines each, 2-second tokens from a 500 ms endpoint, every fifth
/// token request a 500. Not under valgrind (640,000 calls); the other
/// programs cover memory checking.
fn c_soak(background: bool) {
    let built = built();
    let mock = mock();
    mock.set_expires_in(2);
    for _ in 0..200 {
        mock.inject_n(Fault::Delay(Duration::from_millis(500)), 4);
        mock.inject(Fault::Status(500));
    }
    let mut command = command_for(&built.program("soak"), &mock);
    with_client_secret(&mut command);
    if background {
        command.env("SOAK_BACKGROUND", "1");
    }
    let started = std::time::Instant::now();
    let run = run(command, "soak");
    let elapsed = started.elapsed();
    run.assert_success("tests/c/soak.c");
    assert_eq!(run.value("errors: "), "0", "no caller got an error");
    let distinct: u64 = run.value("distinct tokens: ").parse().expect("a count");
    let issued = mock.tokens_issued();
    assert!(
        distinct <= issued && issued - distinct <= 2,
        "{issued} tokens issued, {distinct} seen by callers"
    );
    let periods = elapsed.as_secs_f64(); // refresh-ahead every second
    assert!(
        (issued as f64) <= periods + 3.0,
        "{issued} tokens in {elapsed:?}: more than one per rotation"
    );
    let slow: u64 = run.value("slow calls: ").parse().expect("a count");
    eprintln!(
        "C soak ({}): {} calls in {elapsed:?}, {} token requests, {issued} tokens issued, {distinct} seen, {slow} slow calls",
        if background { "background" } else { "callers" },
        run.value("calls: "),
        mock.token_requests(),
    );
    if background {
        assert_eq!(slow, 0, "no call waited for a refresh");
    } else {
        // Only the one refreshing caller per rotation waits.
        assert!(slow <= issued, "{slow} slow calls for {issued} tokens");
    }
}

#[test]
fn soak_from_c_with_callers_refreshing() {
    c_soak(false);
}

#[test]
fn soak_from_c_with_the_background_refresher() {
    c_soak(true);
}

#[test]
fn cpp_wrapper_example_runs_with_exceptions_and_raii() {
    let built = built();
    let mock = mock();
    let mut command = command_for(&built.program("cpp_example"), &mock);
    with_client_secret(&mut command);
    let run = run(under_valgrind(command), "cpp_example");
    run.assert_success("cpp_example under valgrind");

    assert!(
        run.value("refused: ").starts_with(
            "config (1): alpaca_auth_builder_set_environment: unknown environment \"nowhere\""
        ),
        "{}",
        run.stdout
    );
    assert_eq!(run.value("token url: "), mock.token_url());
    let line = run.value("header: ");
    assert!(bearer_token(line).starts_with("mock_"), "{line}");
    assert_eq!(run.value("fast line matches: "), "yes (1 line)");
    assert_eq!(run.value("new token after invalidate: "), "yes");
    assert_eq!(run.value("token requests: "), "2");
    assert_eq!(run.value("moved-from client: "), "null_argument");
    assert_eq!(run.value("moved client still works: "), "yes");
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn curl_example_gets_the_account_where_libcurl_exists() {
    let built = built();
    let program = built.program("curl_example");
    if !program.exists() {
        eprintln!("note: libcurl headers not found: curl_example was not built, nothing to run");
        return;
    }
    let mock = mock();
    let mut command = command_for(&program, &mock);
    with_client_secret(&mut command);
    let run = run(under_valgrind(command), "curl_example");
    run.assert_success("curl_example under valgrind");
    assert_eq!(run.value("GET /v2/account: "), "200");
    assert_eq!(mock.account_requests(), 1);
    assert_eq!(mock.token_requests(), 1);
}

#[test]
fn python_ctypes_script_uses_the_same_library() {
    let built = built();
    if !has_tool("python3") {
        eprintln!("note: python3 not found: the ctypes script is not run");
        return;
    }
    let mock = mock();
    let mut command = command_for(Path::new("python3"), &mock);
    with_client_secret(&mut command)
        .arg(root().join("examples-c/alpaca_auth_ctypes.py"))
        .arg(built.out.join("libalpaca_auth.so.0"));
    let run = run(command, "ctypes");
    run.assert_success("alpaca_auth_ctypes.py");

    assert_eq!(
        run.value("alpaca-auth "),
        format!("{} via ctypes", env!("CARGO_PKG_VERSION"))
    );
    assert!(run.value("refused: ").starts_with("config (1): "));
    assert!(mock.is_token_valid(bearer_token(run.value("header: "))));
    assert_eq!(run.value("api base: "), mock.base_url());
    assert_eq!(mock.token_requests(), 1);
}

#[test]
fn abuse_from_c_gets_documented_codes_and_reasons() {
    let built = built();
    let mock = mock();
    let der = generate_p256_pkcs8().expect("a fresh P-256 key");
    let key = PrivateKey::from_der(&der).expect("the generated key loads");
    mock.register_client_key(MOCK_JWT_CLIENT_ID, RegisteredKey::from_private_key(&key));
    let dir = scratch().join("keys");
    fs::create_dir_all(&dir).expect("key directory");
    let pem_path = dir.join(format!("abuse-{}.pem", std::process::id()));
    fs::write(&pem_path, pem("PRIVATE KEY", &der)).expect("PEM key file");

    let mut command = Command::new(built.program("abuse"));
    clear_apca(&mut command);
    command
        .env("ABUSE_TOKEN_URL", mock.token_url())
        .env("ABUSE_KEY_PEM", &pem_path)
        .env("ABUSE_KEY_DER", root().join("tests/keys/p256-pkcs8.der"))
        .env("ABUSE_JWT_CLIENT", MOCK_JWT_CLIENT_ID)
        .env("ABUSE_CLIENT_ID", MOCK_CLIENT_ID)
        .env("ABUSE_CLIENT_SECRET", MOCK_CLIENT_SECRET)
        .env("ABUSE_API_KEY_ID", MOCK_API_KEY_ID)
        .env("ABUSE_API_SECRET", MOCK_API_SECRET_KEY);
    let run = run(under_valgrind(command), "abuse");
    let _ = fs::remove_file(&pem_path);
    run.assert_success("tests/c/abuse.c under valgrind");

    let summary = run.value("abuse: ");
    let checks: usize = summary
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no check count in {summary:?}"));
    assert!(checks >= 200, "only {checks} checks ran: {summary}");
    assert!(summary.ends_with(", 0 failed"), "{summary}");
    // The failed requests reached the mock: the wrong secret (twice and
    // once more for the headers), the JWT client twice.
    assert!(mock.token_requests() >= 5, "{}", mock.token_requests());
}

/// PEM armour of DER bytes.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

#[test]
fn library_soname_carries_the_major_version() {
    require_tool("readelf", "apt-get install binutils");
    let built = built();
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    let soname = format!("libalpaca_auth.so.{major}");
    let dynamic = run(
        {
            let mut c = Command::new("readelf");
            c.arg("-d").arg(built.libdir.join("libalpaca_auth.so"));
            c
        },
        "readelf-lib",
    );
    dynamic.assert_success("readelf -d libalpaca_auth.so");
    assert!(
        dynamic
            .stdout
            .contains(&format!("Library soname: [{soname}]")),
        "{}",
        dynamic.stdout
    );
    // Programs linked with -lalpaca_auth record the SONAME, not the file.
    let program = run(
        {
            let mut c = Command::new("readelf");
            c.arg("-d").arg(built.program("quickstart"));
            c
        },
        "readelf-program",
    );
    assert!(
        program
            .stdout
            .contains(&format!("Shared library: [{soname}]")),
        "{}",
        program.stdout
    );
}

/// The functions the committed header declares.
fn header_functions() -> BTreeSet<String> {
    let header = fs::read_to_string(root().join("include/alpaca_auth.h")).expect("the header");
    let mut names = BTreeSet::new();
    for line in header.lines() {
        if line.starts_with([' ', '#', '*', '/']) {
            continue;
        }
        if let Some((before, _)) = line.split_once('(') {
            let name = before.rsplit([' ', '*']).next().unwrap_or_default();
            if name.starts_with("alpaca_auth_") {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn only_the_header_functions_are_exported() {
    require_tool("nm", "apt-get install binutils");
    let built = built();
    let nm = run(
        {
            let mut c = Command::new("nm");
            c.args(["-D", "--defined-only"])
                .arg(built.libdir.join("libalpaca_auth.so"));
            c
        },
        "nm",
    );
    nm.assert_success("nm -D --defined-only");
    let exported: BTreeSet<String> = nm
        .stdout
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .collect();
    let stray: Vec<&String> = exported
        .iter()
        .filter(|name| !name.starts_with("alpaca_auth_"))
        .collect();
    assert!(stray.is_empty(), "symbols outside alpaca_auth_*: {stray:?}");
    let declared = header_functions();
    assert!(declared.len() >= 30, "{declared:?}");
    assert_eq!(exported, declared, "exports and header declarations differ");
}

#[test]
fn committed_header_matches_a_fresh_cbindgen_run() {
    let found = Command::new("cbindgen").arg("--version").output();
    let version = match found {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        Err(_) => panic!(
            "cbindgen is not installed; it is needed to check include/alpaca_auth.h: \
             cargo install cbindgen --version {CBINDGEN_VERSION} --locked (.ci/run does this)"
        ),
    };
    assert_eq!(
        version,
        format!("cbindgen {CBINDGEN_VERSION}"),
        "the header is generated with cbindgen {CBINDGEN_VERSION}: \
         cargo install cbindgen --version {CBINDGEN_VERSION} --locked --force"
    );
    let dir = scratch().join("cbindgen");
    fs::create_dir_all(&dir).expect("scratch directory");
    let fresh = dir.join(format!("alpaca_auth-{}.h", std::process::id()));
    let mut command = Command::new("cbindgen");
    command
        .current_dir(root())
        .args([
            "--config",
            "cbindgen.toml",
            "--crate",
            "alpaca-auth",
            "--quiet",
            "--output",
        ])
        .arg(&fresh);
    let generated = run(command, "cbindgen");
    generated.assert_success("cbindgen");
    let fresh_text = fs::read_to_string(&fresh).expect("the generated header");
    let _ = fs::remove_file(&fresh);
    let committed = fs::read_to_string(root().join("include/alpaca_auth.h")).expect("the header");
    if fresh_text != committed {
        let first = fresh_text
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "(one is a prefix of the other)".to_owned(),
                |n| format!("line {}", n + 1),
            );
        panic!(
            "include/alpaca_auth.h is stale (first difference at {first}); regenerate it: \
             cbindgen --config cbindgen.toml --crate alpaca-auth --output include/alpaca_auth.h"
        );
    }
}

#[test]
fn header_version_macros_match_the_crate_version() {
    let header = fs::read_to_string(root().join("include/alpaca_auth.h")).expect("the header");
    let define = |name: &str| -> String {
        header
            .lines()
            .find_map(|line| line.strip_prefix(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("no {name} in the header"))
            .trim()
            .to_owned()
    };
    assert_eq!(
        define("ALPACA_AUTH_VERSION"),
        format!("\"{}\"", env!("CARGO_PKG_VERSION")),
        "update after_includes in cbindgen.toml and regenerate the header"
    );
    assert_eq!(
        define("ALPACA_AUTH_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        define("ALPACA_AUTH_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        define("ALPACA_AUTH_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
}

#[test]
fn header_compiles_alone_as_c99_c11_and_cpp11() {
    let dir = scratch().join("header-only");
    fs::create_dir_all(&dir).expect("scratch directory");
    let source = dir.join("include_only.c");
    fs::write(
        &source,
        "#include \"alpaca_auth.h\"\nint main(void) { return alpaca_auth_version() == 0; }\n",
    )
    .expect("source");
    for (compiler, language, standard) in [
        ("cc", "c", "-std=c99"),
        ("cc", "c", "-std=c11"),
        ("c++", "c++", "-std=c++11"),
    ] {
        let mut command = Command::new(compiler);
        command
            .args([
                "-fsyntax-only",
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                standard,
            ])
            .arg(format!("-I{}", root().join("include").display()))
            .args(["-x", language])
            .arg(&source);
        run(command, "header-only").assert_success(&format!("{compiler} {standard} alpaca_auth.h"));
    }
}

#[test]
fn make_install_puts_library_headers_and_pkg_config_in_place() {
    require_tool(
        "pkg-config",
        "apt-get install pkg-config (.ci/run installs it)",
    );
    let built = built();
    let prefix = scratch().join(format!("prefix-{}", std::process::id()));
    let _ = fs::remove_dir_all(&prefix);
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(root().join("examples-c"))
        .arg("install")
        .arg(format!("PREFIX={}", prefix.display()))
        .arg(format!("CARGO_LIBDIR={}", built.libdir.display()));
    run(make, "make-install").assert_success("make install");

    let version = env!("CARGO_PKG_VERSION");
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    let lib = prefix.join("lib");
    assert!(lib.join(format!("libalpaca_auth.so.{version}")).is_file());
    assert_eq!(
        fs::read_link(lib.join(format!("libalpaca_auth.so.{major}"))).expect("SONAME link"),
        PathBuf::from(format!("libalpaca_auth.so.{version}"))
    );
    assert_eq!(
        fs::read_link(lib.join("libalpaca_auth.so")).expect("dev link"),
        PathBuf::from(format!("libalpaca_auth.so.{major}"))
    );
    for header in ["alpaca_auth.h", "alpaca_auth.hpp"] {
        assert_eq!(
            fs::read(prefix.join("include").join(header)).expect("installed header"),
            fs::read(root().join("include").join(header)).expect("header"),
        );
    }

    // A C++ program that includes only alpaca_auth.hpp, compiled with the
    // flags pkg-config gives.
    let pkg_config = |args: &[&str]| {
        let mut c = Command::new("pkg-config");
        c.env("PKG_CONFIG_PATH", lib.join("pkgconfig")).args(args);
        let out = run(c, "pkg-config");
        out.assert_success(&format!("pkg-config {args:?}"));
        out.stdout
    };
    assert_eq!(pkg_config(&["--modversion", "alpaca_auth"]).trim(), version);
    let flags: Vec<String> = pkg_config(&["--cflags", "--libs", "alpaca_auth"])
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert!(flags.contains(&"-lalpaca_auth".to_owned()), "{flags:?}");
    assert!(
        flags.contains(&format!("-I{}", prefix.join("include").display())),
        "{flags:?}"
    );

    let source = prefix.join("hello.cpp");
    fs::write(
        &source,
        "#include <alpaca_auth.hpp>\n#include <iostream>\n\
         int main() {\n\
           try { alpaca_auth::builder().build(); return 1; }\n\
           catch (const alpaca_auth::error &e) {\n\
             std::cout << alpaca_auth::version() << ' ' << e.code_name() << '\\n';\n\
           }\n\
           return 0;\n\
         }\n",
    )
    .expect("source");
    let exe = prefix.join("hello");
    let mut cxx = Command::new("c++");
    cxx.args(["-std=c++17", "-Wall", "-Wextra", "-Werror"])
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .args(&flags);
    run(cxx, "c++-installed").assert_success("c++ with pkg-config flags");
    let mut hello = Command::new(&exe);
    hello.env("LD_LIBRARY_PATH", &lib);
    let ran = run(hello, "hello");
    ran.assert_success("the installed-library program");
    assert_eq!(ran.stdout.trim(), format!("{version} config"));

    // The static library, with the Libs.private of the .pc file.
    let private: Vec<String> = pkg_config(&["--static", "--libs-only-l", "alpaca_auth"])
        .split_whitespace()
        .filter(|flag| *flag != "-lalpaca_auth")
        .map(str::to_owned)
        .collect();
    let static_exe = prefix.join("hello-static");
    let mut cxx = Command::new("c++");
    cxx.args(["-std=c++17", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", prefix.join("include").display()))
        .arg(&source)
        .arg("-o")
        .arg(&static_exe)
        .arg(lib.join("libalpaca_auth.a"))
        .args(&private);
    run(cxx, "c++-static").assert_success("c++ with libalpaca_auth.a and Libs.private");
    let ran = run(Command::new(&static_exe), "hello-static");
    ran.assert_success("the statically linked program");
    assert_eq!(ran.stdout.trim(), format!("{version} config"));

    let _ = fs::remove_dir_all(&prefix);
}
