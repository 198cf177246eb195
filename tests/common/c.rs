//! The harness of the tests that drive the C library from outside
//! (`tests/c_abi.rs`, `tests/c_packaging.rs`): where cargo put the library,
//! the C programs built once per test binary, and running a program with a
//! timeout (under valgrind memcheck where asked) as a client of the mock.
//!
//! Needs gcc/g++ (`cc`, `c++`), make, valgrind, readelf, nm and pkg-config,
//! which every machine of this project's kind has; a missing one fails the
//! test that needs it, with the command to install it.
#![allow(dead_code)]

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use alpaca_auth::mock::{MockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET};

use super::util::on_path;

/// Longest a C program may run (valgrind included) before it is killed.
pub const PROGRAM_TIMEOUT: Duration = Duration::from_secs(120);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where this `cargo test` run put `libalpaca_auth.so` and `.a`: cargo
/// compiles the library (every crate type of `[lib]`) into `deps/`, beside
/// this test binary, before the tests that use it, so the files there are
/// those of these sources whatever the target directory. (Only `cargo build`
/// copies them up to the profile directory.)
pub fn cargo_libdir() -> PathBuf {
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
pub fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-abi")
}

pub fn require_tool(tool: &str, install: &str) {
    assert!(on_path(tool), "{tool} is required by this test: {install}");
}

/// What a finished program did.
#[derive(Debug)]
pub struct Run {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn assert_success(&self, what: &str) {
        assert_eq!(
            self.status,
            Some(0),
            "{what} failed (99 = valgrind found errors or definite leaks)\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
    }

    pub fn lines_starting(&self, prefix: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter_map(|line| line.strip_prefix(prefix))
            .collect()
    }

    pub fn value(&self, prefix: &str) -> &str {
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
pub fn run(mut command: Command, name: &str) -> Run {
    let dir = scratch().join("runs");
    fs::create_dir_all(&dir).expect("scratch directory");
    // Tests run in parallel threads of one process: number the runs.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let number = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file_name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let unique = format!("{file_name}-{}-{number}", std::process::id());
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
pub struct Built {
    pub out: PathBuf,
    pub libdir: PathBuf,
}

impl Built {
    pub fn program(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }
}

pub fn built() -> &'static Built {
    static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
    BUILT
        .get_or_init(build_programs)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The ABI of this version, as the SONAME carries it (`0.1` while 0.1.x):
/// `abi/<abi>/` keeps the headers of its first release and its baseline.
pub fn abi() -> String {
    soname().trim_start_matches("libalpaca_auth.so.").to_owned()
}

/// The programs compiled against the headers of the first release of this
/// ABI (`abi/<abi>/`) and linked with this library: what a program built
/// then does when given the new library.
pub fn built_against_last_release() -> &'static Built {
    static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let headers = root().join("abi").join(abi());
            let out = scratch().join(format!("build-abi-{}", abi()));
            build_programs_against(&headers, &out)
        })
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn build_programs() -> Result<Built, String> {
    build_programs_against(&root().join("include"), &scratch().join("build"))
}

/// The `alpaca_auth_*` and `ALPACA_AUTH_*` names `source` uses that
/// `header` does not declare.
fn names_missing_from(source: &Path, header: &str) -> Vec<String> {
    let text = fs::read_to_string(source).unwrap_or_default();
    let declared = |name: &str| {
        header
            .match_indices(name)
            .any(|(at, _)| !is_name_byte(header.as_bytes().get(at + name.len()).copied()))
    };
    let mut missing: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &text[at..];
        let starts = rest.starts_with("alpaca_auth_") || rest.starts_with("ALPACA_AUTH_");
        let boundary = at == 0 || !is_name_byte(Some(bytes[at - 1]));
        if starts && boundary {
            let len = rest.bytes().take_while(|b| is_name_byte(Some(*b))).count();
            let name = &rest[..len];
            // A name ending in `_` is a wildcard in a comment (`ALPACA_AUTH_MAX_*`).
            let whole = !name.ends_with('_');
            if whole && !declared(name) && !missing.iter().any(|m| m == name) {
                missing.push(name.to_owned());
            }
            at += len;
        } else {
            at += 1;
        }
    }
    missing
}

fn is_name_byte(b: Option<u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The programs of `examples-c/` (with its Makefile) and `tests/c/`,
/// compiled against the headers in `include` into `out` (a program of
/// `tests/c/` that uses a name the headers lack is left out, with a note).
pub fn build_programs_against(include: &Path, out: &Path) -> Result<Built, String> {
    let libdir = cargo_libdir();
    let out = out.to_path_buf();
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (tool, install) in [
        ("make", "apt-get install make"),
        ("cc", "apt-get install gcc"),
        ("c++", "apt-get install g++"),
    ] {
        if !on_path(tool) {
            return Err(format!(
                "{tool} is required to build the C programs: {install}"
            ));
        }
    }
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(root().join("examples-c"))
        .arg(format!("OUT={}", out.display()))
        .arg(format!("INCLUDE={}", include.display()))
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
    let header = fs::read_to_string(include.join("alpaca_auth.h"))
        .map_err(|e| format!("{}: {e}", include.display()))?;
    for program in [
        "abuse",
        "abi",
        "assertion_options",
        "doctor",
        "fork_storm",
        "incidents",
        "last_error",
        "policies",
        "prefork",
        "refresher",
        "signer",
        "soak",
        "store_callbacks",
        "store_hang",
    ] {
        let source = root().join(format!("tests/c/{program}.c"));
        // Never leave a program of an earlier run in place of one not built.
        let _ = fs::remove_file(out.join(program));
        let newer = names_missing_from(&source, &header);
        if !newer.is_empty() {
            // A program that calls what these headers do not declare was
            // written for a later ABI than theirs.
            eprintln!(
                "note: tests/c/{program}.c is not built against {}: it uses {}",
                include.display(),
                newer.join(", ")
            );
            continue;
        }
        let mut cc = Command::new("cc");
        cc.args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-g",
        ])
        .arg(format!("-I{}", include.display()))
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

/// A command with no `APCA_*` variable of the developer's environment, and
/// every URL pointed at `mock`.
pub fn command_for(program: &Path, mock: &MockServer) -> Command {
    let mut command = Command::new(program);
    clear_apca(&mut command);
    command
        .env("APCA_ENVIRONMENT", "broker-sandbox")
        .env("APCA_API_BASE_URL", mock.base_url())
        .env("APCA_API_DATA_URL", mock.base_url())
        .env("APCA_AUTH_URL", mock.token_url());
    command
}

pub fn clear_apca(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("APCA_") {
            command.env_remove(name);
        }
    }
}

pub fn with_client_secret(command: &mut Command) -> &mut Command {
    command
        .env("APCA_CLIENT_ID", MOCK_CLIENT_ID)
        .env("APCA_CLIENT_SECRET", MOCK_CLIENT_SECRET)
}

/// [`command_for`] with the mock's default `client_secret_post` client.
pub fn secret_client_command(program: &Path, mock: &MockServer) -> Command {
    let mut command = command_for(program, mock);
    with_client_secret(&mut command);
    command
}

/// A test program of `tests/c/` configured by its own variables,
/// `<PREFIX>_TOKEN_URL`, `<PREFIX>_CLIENT_ID` and `<PREFIX>_CLIENT_SECRET`
/// (the mock's default client), with no `APCA_*` variable of the
/// developer's environment.
pub fn program_for(program: &Path, prefix: &str, mock: &MockServer) -> Command {
    let mut command = Command::new(program);
    clear_apca(&mut command);
    command
        .env(format!("{prefix}_TOKEN_URL"), mock.token_url())
        .env(format!("{prefix}_CLIENT_ID"), MOCK_CLIENT_ID)
        .env(format!("{prefix}_CLIENT_SECRET"), MOCK_CLIENT_SECRET);
    command
}

/// The same command under valgrind memcheck: any error, or any definitely
/// lost block, makes it exit 99.
pub fn under_valgrind(command: Command) -> Command {
    require_tool("valgrind", "apt-get install valgrind");
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

/// Runs `command` under valgrind memcheck (see [`under_valgrind`]) and
/// asserts that it succeeded.
pub fn run_under_valgrind(command: Command, name: &str) -> Run {
    let ran = run(under_valgrind(command), name);
    ran.assert_success(&format!("{name} under valgrind"));
    ran
}

pub fn bearer_token(line: &str) -> &str {
    line.strip_prefix("Authorization: Bearer ")
        .unwrap_or_else(|| panic!("not a bearer header: {line:?}"))
}

/// The SONAME the library must carry: `.so.0.<minor>` while 0.x, as
/// build.rs sets it.
pub fn soname() -> String {
    match env!("CARGO_PKG_VERSION_MAJOR") {
        "0" => format!("libalpaca_auth.so.0.{}", env!("CARGO_PKG_VERSION_MINOR")),
        major => format!("libalpaca_auth.so.{major}"),
    }
}

/// The functions `include/alpaca_auth.h` declares: every `alpaca_auth_*`
/// name followed by `(` on a line of code (not a comment), other than a
/// function pointer type's (`(*alpaca_auth_..._fn)(`), sorted.
pub fn header_exports() -> Vec<String> {
    let header = fs::read_to_string(root().join("include/alpaca_auth.h")).expect("the C header");
    declared_functions(&header)
}

/// The functions a header's text declares, by the rule of [`header_exports`].
pub fn declared_functions(header: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in header.lines() {
        let code = line.trim_start();
        if code.starts_with('*') || code.starts_with("/*") || code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("alpaca_auth_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let after = &rest[at + name.len()..];
            if after.starts_with('(') && !rest[..at].ends_with("(*") {
                names.push(name.clone());
            }
            rest = after;
        }
    }
    names.sort();
    names.dedup();
    assert!(
        names.len() > 50 && names.iter().any(|n| n == "alpaca_auth_client_header_line"),
        "the header's declarations were not found: {names:?}"
    );
    names
}

/// Whether `text` names `export` as a whole word (not as the start of a
/// longer name: `alpaca_auth_client_free` is not in `..._free_all`).
pub fn names(text: &str, export: &str) -> bool {
    text.match_indices(export).any(|(at, _)| {
        let next = text[at + export.len()..].chars().next();
        let before = text[..at].chars().next_back();
        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}
