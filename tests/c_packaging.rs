//! Packaging of the C library, as a C or C++ shop meets it: the SONAME and
//! the exported symbols, the committed header against a fresh cbindgen run
//! (the cbindgen crate, pinned), the header's macros against the library's
//! limits, the headers in every supported C and C++ standard (the C++
//! wrapper with and without exceptions), `make install` with pkg-config and
//! static linking, the staged build tree, the CMake package (when cmake is
//! installed), and the ABI rules of `tests/c/abi.c`.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::c::*;
use common::util::on_path;
use common::{account_status_with_lines as account_status, mock};

#[test]
fn library_soname_follows_semver() {
    require_tool("readelf", "apt-get install binutils");
    let built = built();
    let soname = soname();
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
    header_exports().into_iter().collect()
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
        // The symbol of the version node itself (tests/abi.rs checks it).
        .filter(|name| !name.starts_with("ALPACA_AUTH_"))
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

/// Regenerates include/alpaca_auth.h instead of comparing, when set.
const BLESS: &str = "ALPACA_AUTH_BLESS_HEADER";

#[test]
fn committed_header_matches_a_fresh_cbindgen_run() {
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(root())
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header from src/ffi");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("the header is UTF-8");
    let path = root().join("include/alpaca_auth.h");
    if std::env::var_os(BLESS).is_some() {
        fs::write(&path, &fresh).expect("write include/alpaca_auth.h");
        return;
    }
    let committed = fs::read_to_string(&path).expect("the header");
    if fresh != committed {
        let first = fresh
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "(one is a prefix of the other)".to_owned(),
                |n| format!("line {}", n + 1),
            );
        panic!(
            "include/alpaca_auth.h is stale (first difference at {first}); regenerate it: \
             {BLESS}=1 cargo test --test c_packaging committed_header"
        );
    }
}

/// The value of `#define name` in the committed header.
fn header_define(name: &str) -> String {
    let header = fs::read_to_string(root().join("include/alpaca_auth.h")).expect("the header");
    header
        .lines()
        .find_map(|line| line.strip_prefix(&format!("#define {name} ")))
        .unwrap_or_else(|| panic!("no {name} in the header"))
        .trim()
        .to_owned()
}

#[test]
fn header_version_macros_match_the_crate_version() {
    let define = header_define;
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
    // The one integer a program compares with alpaca_auth_version_number().
    assert_eq!(
        define("ALPACA_AUTH_VERSION_NUMBER"),
        alpaca_auth::ffi::version::alpaca_auth_version_number().to_string()
    );
}

#[test]
fn header_limit_macros_match_the_library_limits() {
    let define = |name: &str| -> usize {
        header_define(name)
            .parse()
            .unwrap_or_else(|e| panic!("{name} is not a number: {e}"))
    };
    let fix = "update after_includes in cbindgen.toml and regenerate the header";
    assert_eq!(
        define("ALPACA_AUTH_MAX_TOKEN_LEN"),
        alpaca_auth::limits::MAX_ACCESS_TOKEN_LEN,
        "{fix}"
    );
    assert_eq!(
        define("ALPACA_AUTH_MAX_HEADER_LINE"),
        alpaca_auth::limits::MAX_HEADER_LINE_LEN,
        "{fix}"
    );
    assert_eq!(
        define("ALPACA_AUTH_MAX_ERROR_LEN"),
        alpaca_auth::limits::MAX_LAST_ERROR_LEN + 1,
        "{fix}"
    );
    assert_eq!(
        define("ALPACA_AUTH_MAX_DOCTOR_REPORT"),
        alpaca_auth::limits::DOCTOR_REPORT_MAX_LEN,
        "{fix}"
    );
    use alpaca_auth::limits as l;
    for (name, value) in [
        ("ALPACA_AUTH_MAX_SIGNATURE_LEN", l::MAX_SIGNATURE_LEN),
        (
            "ALPACA_AUTH_MAX_SIGNER_DETAIL_LEN",
            l::MAX_SIGNER_DETAIL_LEN + 1,
        ),
        (
            "ALPACA_AUTH_MAX_SIGNER_IDENTITY_LEN",
            l::MAX_SIGNER_IDENTITY_LEN,
        ),
    ] {
        assert_eq!(define(name), value, "{name}: {fix}");
    }
    let ms = |d: std::time::Duration| d.as_millis() as usize;
    let s = |d: std::time::Duration| d.as_secs() as usize;
    let defaults = [
        (
            "ALPACA_AUTH_DEFAULT_CONNECT_TIMEOUT_MS",
            ms(l::DEFAULT_CONNECT_TIMEOUT),
        ),
        (
            "ALPACA_AUTH_DEFAULT_REQUEST_TIMEOUT_MS",
            ms(l::DEFAULT_REQUEST_TIMEOUT),
        ),
        (
            "ALPACA_AUTH_DEFAULT_TOKEN_BUDGET_MS",
            ms(l::DEFAULT_TOKEN_BUDGET),
        ),
        ("ALPACA_AUTH_MAX_TIMEOUT_MS", ms(l::MAX_TIMEOUT)),
        (
            "ALPACA_AUTH_DEFAULT_ASSERTION_LIFETIME_S",
            s(l::DEFAULT_ASSERTION_LIFETIME),
        ),
        (
            "ALPACA_AUTH_MIN_ASSERTION_LIFETIME_S",
            s(l::MIN_ASSERTION_LIFETIME),
        ),
        (
            "ALPACA_AUTH_MAX_ASSERTION_LIFETIME_S",
            s(l::MAX_ASSERTION_LIFETIME),
        ),
        ("ALPACA_AUTH_MAX_CA_BUNDLE_LEN", l::MAX_CA_BUNDLE_LEN),
        (
            "ALPACA_AUTH_REFRESHER_SHUTDOWN_WAIT_MS",
            ms(l::REFRESHER_SHUTDOWN_WAIT),
        ),
        (
            "ALPACA_AUTH_DEFAULT_REFRESH_AHEAD_MIN_MS",
            ms(l::DEFAULT_REFRESH_AHEAD_MIN),
        ),
        (
            "ALPACA_AUTH_DEFAULT_RETRY_MAX_ATTEMPTS",
            l::DEFAULT_MAX_ATTEMPTS as usize,
        ),
        (
            "ALPACA_AUTH_DEFAULT_RETRY_INITIAL_BACKOFF_MS",
            ms(l::DEFAULT_INITIAL_BACKOFF),
        ),
        (
            "ALPACA_AUTH_DEFAULT_RETRY_MAX_BACKOFF_MS",
            ms(l::DEFAULT_MAX_BACKOFF),
        ),
    ];
    let fraction: f64 = header_define("ALPACA_AUTH_DEFAULT_REFRESH_AHEAD_FRACTION")
        .parse()
        .expect("a number");
    assert_eq!(fraction, l::DEFAULT_REFRESH_AHEAD_FRACTION, "{fix}");
    for (name, value) in defaults {
        assert_eq!(define(name), value, "{name}: {fix}");
    }
    // No doc comment states a number a macro gives, or names a Rust
    // constant a C programmer cannot see: they use the macros.
    let header = fs::read_to_string(root().join("include/alpaca_auth.h")).expect("the header");
    let prose: String = header
        .lines()
        .filter(|line| !line.starts_with("#define"))
        .collect::<Vec<_>>()
        .join("\n");
    for stale in ["2048 bytes", "4097 bytes", "8192 bytes", "library's `"] {
        assert!(!prose.contains(stale), "the header still says {stale:?}");
    }
    for (name, value) in defaults {
        let number = value.to_string();
        let stated = prose
            .split(|c: char| !c.is_ascii_digit())
            .any(|word| word == number && number.len() > 2);
        assert!(!stated, "the header states {number} in prose: use {name}");
    }
}

/// The warning flags every C and C++ compilation of the headers uses.
const STRICT: [&str; 4] = ["-Wall", "-Wextra", "-Wpedantic", "-Werror"];

#[test]
fn header_compiles_alone_in_every_supported_c_and_cpp_standard() {
    let dir = scratch().join("header-only");
    fs::create_dir_all(&dir).expect("scratch directory");
    let source = dir.join("include_only.c");
    fs::write(
        &source,
        "#include \"alpaca_auth.h\"\nint main(void) { return alpaca_auth_version() == 0; }\n",
    )
    .expect("source");
    let c = ["c99", "c11", "c17"].map(|std| ("cc", "c", std));
    let cpp = ["c++11", "c++14", "c++17", "c++20"].map(|std| ("c++", "c++", std));
    for (compiler, language, standard) in c.into_iter().chain(cpp) {
        let mut command = Command::new(compiler);
        command
            .arg("-fsyntax-only")
            .args(STRICT)
            .arg(format!("-std={standard}"))
            .arg(format!("-I{}", root().join("include").display()))
            .args(["-x", language])
            .arg(&source);
        run(command, "header-only")
            .assert_success(&format!("{compiler} -std={standard} alpaca_auth.h"));
    }
}

#[test]
fn cpp_wrapper_compiles_in_cpp11_to_cpp20_with_and_without_exceptions() {
    let dir = scratch().join("hpp-only");
    fs::create_dir_all(&dir).expect("scratch directory");
    let source = dir.join("wrapper.cpp");
    // Every member is instantiated (called) so that each is compiled.
    fs::write(&source, include_str!("c/wrapper_all.cpp")).expect("source");
    for standard in ["c++11", "c++14", "c++17", "c++20"] {
        for exceptions in ["-fexceptions", "-fno-exceptions"] {
            let mut command = Command::new("c++");
            command
                .arg("-fsyntax-only")
                .args(STRICT)
                .arg(format!("-std={standard}"))
                .arg(exceptions)
                .arg(format!("-I{}", root().join("include").display()))
                .arg(&source);
            run(command, "hpp-only")
                .assert_success(&format!("c++ -std={standard} {exceptions} alpaca_auth.hpp"));
        }
    }
}

/// Exports the C++ wrapper does not call, each with its reason. Every
/// other export of the header must be called (or passed as a function
/// pointer) in the code of `include/alpaca_auth.hpp`; the `_free` functions
/// count through the destructors that call them.
const NOT_WRAPPED: &[(&str, &str)] = &[
    // An entry is the export's name and why C++ has no use for it.
    (
        "alpaca_auth_client_invalidate_token",
        "deprecated former name of alpaca_auth_client_invalidate_presented",
    ),
    (
        "alpaca_auth_client_market_data_stream_url",
        "deprecated former name of alpaca_auth_client_market_data_stream_base",
    ),
];

/// The code of a C++ source without its `//` comments.
fn without_line_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn cpp_wrapper_calls_every_export_of_the_header() {
    let wrapper = fs::read_to_string(root().join("include/alpaca_auth.hpp")).expect("the wrapper");
    let code = without_line_comments(&wrapper);
    let excluded: BTreeSet<&str> = NOT_WRAPPED.iter().map(|(name, _)| *name).collect();
    let exports = header_exports();
    let missing: Vec<&String> = exports
        .iter()
        .filter(|export| !excluded.contains(export.as_str()) && !names(&code, export))
        .collect();
    assert!(
        missing.is_empty(),
        "exports of alpaca_auth.h that alpaca_auth.hpp never calls (wrap them, or add them to NOT_WRAPPED with the reason): {missing:?}"
    );
    let stale: Vec<&&str> = excluded
        .iter()
        .filter(|name| !exports.iter().any(|e| e == *name) || names(&code, name))
        .collect();
    assert!(
        stale.is_empty(),
        "NOT_WRAPPED entries that are wrapped or gone: {stale:?}"
    );
}

#[test]
fn c_api_doc_names_every_export_of_the_header() {
    let doc = fs::read_to_string(root().join("docs/c-api.md")).expect("docs/c-api.md");
    let missing: Vec<String> = header_exports()
        .into_iter()
        .filter(|export| !names(&doc, export))
        .collect();
    assert!(
        missing.is_empty(),
        "exports of alpaca_auth.h that docs/c-api.md does not name (add a line to its list of functions): {missing:?}"
    );
}

#[test]
fn cpp_program_without_exceptions_gets_headers_and_error_codes() {
    let built = built();
    let mock = mock();
    let exe = built.out.join("no_exceptions");
    let mut cxx = Command::new("c++");
    cxx.args(["-std=c++11", "-fno-exceptions", "-g"])
        .args(STRICT)
        .arg(format!("-I{}", root().join("include").display()))
        .arg(root().join("tests/c/no_exceptions.cpp"))
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", built.out.display()))
        .arg("-lalpaca_auth")
        .arg("-Wl,-rpath,$ORIGIN");
    run(cxx, "c++-no-exceptions").assert_success("c++ -fno-exceptions tests/c/no_exceptions.cpp");
    let mut command = command_for(&exe, &mock);
    with_client_secret(&mut command);
    let ran = run(under_valgrind(command), "no_exceptions");
    ran.assert_success("no_exceptions");
    assert_eq!(ran.value("unknown environment: "), "config");
    assert_eq!(ran.value("moved-from client: "), "null_argument");
    let line = ran.value("header: ");
    assert_eq!(account_status(&mock, &[line]), 200);
    // Two clients sharing a C++ token_store: one token request.
    assert_eq!(ran.value("shared store: "), "same token, 1 publish");
    // The std::function event handler ran (owned by the client, freed
    // after it: valgrind checks both).
    assert_eq!(ran.value("token events: "), "1");
    assert_eq!(
        ran.value("market data stream: "),
        "wss://stream.data.sandbox.alpaca.markets"
    );
    assert_eq!(ran.value("trade updates stream: "), "");
    assert_eq!(ran.value("stream auth message: "), "config");
    assert_eq!(mock.token_requests(), 1);
}

#[test]
fn make_install_puts_library_headers_and_pkg_config_in_place() {
    require_tool(
        "pkg-config",
        "apt-get install pkg-config (.ci/run installs it)",
    );
    let prefix = install("prefix");
    let version = env!("CARGO_PKG_VERSION");
    let lib = prefix.join("lib");
    assert_complete_prefix(&prefix);

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

/// `make -C examples-c install` into a fresh prefix under the scratch
/// directory.
fn install(name: &str) -> PathBuf {
    let built = built();
    let prefix = scratch().join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&prefix);
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(root().join("examples-c"))
        .arg("install")
        .arg(format!("PREFIX={}", prefix.display()))
        .arg(format!("CARGO_LIBDIR={}", built.libdir.display()));
    run(make, "make-install").assert_success("make install");
    prefix
}

/// Library (file, SONAME link, dev link, archive), both headers, the .pc
/// file, the CMake package and the licenses.
fn assert_complete_prefix(prefix: &Path) {
    let version = env!("CARGO_PKG_VERSION");
    let lib = prefix.join("lib");
    assert!(lib.join(format!("libalpaca_auth.so.{version}")).is_file());
    assert_eq!(
        fs::read_link(lib.join(soname())).expect("SONAME link"),
        PathBuf::from(format!("libalpaca_auth.so.{version}"))
    );
    assert_eq!(
        fs::read_link(lib.join("libalpaca_auth.so")).expect("dev link"),
        PathBuf::from(soname())
    );
    assert!(lib.join("libalpaca_auth.a").is_file());
    for header in ["alpaca_auth.h", "alpaca_auth.hpp"] {
        assert_eq!(
            fs::read(prefix.join("include").join(header)).expect("installed header"),
            fs::read(root().join("include").join(header)).expect("header"),
        );
    }
    assert!(lib.join("pkgconfig/alpaca_auth.pc").is_file());
    // The licenses, the crates' generated from Cargo.lock (tests/licenses.rs).
    let doc = prefix.join("share/doc/alpaca_auth");
    for file in ["LICENSE-MIT", "LICENSE-APACHE", "licenses/THIRD-PARTY.md"] {
        let name = Path::new(file).file_name().expect("a file name");
        assert_eq!(
            fs::read(doc.join(name)).expect("installed license file"),
            fs::read(root().join(file)).expect("license file"),
            "{file}"
        );
    }
    for file in ["alpaca_authConfig.cmake", "alpaca_authConfigVersion.cmake"] {
        assert!(lib.join("cmake/alpaca_auth").join(file).is_file(), "{file}");
    }
}

/// The downstream program of the packaging tests: links, checks that the
/// library is at least as new as the header, prints the version and the
/// code of a refused build.
const DOWNSTREAM_C: &str = r#"#include <stdio.h>
#include <alpaca_auth.h>
int main(void) {
    alpaca_auth_builder *builder = NULL;
    alpaca_auth_client *client = NULL;
    if (alpaca_auth_version_number() < ALPACA_AUTH_VERSION_NUMBER) return 2;
    if (alpaca_auth_builder_new(&builder) != ALPACA_AUTH_RESULT_OK) return 3;
    alpaca_auth_result r = alpaca_auth_builder_build(builder, &client);
    printf("%s %s\n", alpaca_auth_version(), alpaca_auth_result_str(r));
    return client == NULL ? 0 : 4;
}
"#;

#[test]
fn staged_build_tree_links_and_runs_without_make_install() {
    let built = built();
    let stage = scratch().join(format!("stage-{}", std::process::id()));
    let _ = fs::remove_dir_all(&stage);
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(root().join("examples-c"))
        .arg("stage")
        .arg(format!("STAGE_DIR={}", stage.display()))
        .arg(format!("CARGO_LIBDIR={}", built.libdir.display()));
    run(make, "make-stage").assert_success("make stage");
    assert_complete_prefix(&stage);

    // What a user of the build tree types: -I, -L, -l, and the library
    // found at run time under its SONAME.
    let source = stage.join("app.c");
    fs::write(&source, DOWNSTREAM_C).expect("source");
    let exe = stage.join("app");
    let mut cc = Command::new("cc");
    cc.args(STRICT)
        .arg(format!("-I{}", stage.join("include").display()))
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", stage.join("lib").display()))
        .arg("-lalpaca_auth");
    run(cc, "cc-staged").assert_success("cc against the staged prefix");
    let mut app = Command::new(&exe);
    app.env("LD_LIBRARY_PATH", stage.join("lib"));
    let ran = run(app, "staged-app");
    ran.assert_success("the program linked against the staged prefix");
    assert_eq!(
        ran.stdout.trim(),
        format!("{} config", env!("CARGO_PKG_VERSION"))
    );
    let _ = fs::remove_dir_all(&stage);
}

/// The code block of `language` in the README's section `heading`.
fn readme_block(heading: &str, language: &str) -> String {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with(heading))
        .unwrap_or_else(|| panic!("no section {heading:?} in README.md"));
    let fence = format!("```{language}\n");
    let start = section
        .find(&fence)
        .unwrap_or_else(|| panic!("no {language} block in {heading:?}"))
        + fence.len();
    let len = section[start..].find("```").expect("closing fence");
    section[start..start + len].to_owned()
}

/// The README's C and C++ quick start, as a newcomer follows it: the
/// programs built against the staged build tree with the flags pkg-config
/// gives through `PKG_CONFIG_PATH`, found at run time through their rpath
/// (no `LD_LIBRARY_PATH`), print the headers with credentials and the last
/// error without.
#[test]
fn readme_quick_start_programs_build_against_the_stage_and_run() {
    require_tool(
        "pkg-config",
        "apt-get install pkg-config (.ci/run installs it)",
    );
    let built = built();
    let stage = scratch().join(format!("readme-stage-{}", std::process::id()));
    let _ = fs::remove_dir_all(&stage);
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(root().join("examples-c"))
        .arg("stage")
        .arg(format!("STAGE_DIR={}", stage.display()))
        .arg(format!("CARGO_LIBDIR={}", built.libdir.display()));
    run(make, "make-stage").assert_success("make stage");
    let mut pkg_config = Command::new("pkg-config");
    pkg_config
        .env("PKG_CONFIG_PATH", stage.join("lib/pkgconfig"))
        .args(["--cflags", "--libs", "alpaca_auth"]);
    let flags = run(pkg_config, "pkg-config-stage");
    flags.assert_success("pkg-config with PKG_CONFIG_PATH on the stage");
    let rpath = format!("-Wl,-rpath,{}", stage.join("lib").display());

    let mock = mock();
    for (language, compiler, standard) in [("c", "cc", "-std=c11"), ("cpp", "c++", "-std=c++11")] {
        let source = stage.join(format!("app.{language}"));
        fs::write(&source, readme_block("C quick start", language)).expect("source");
        let exe = stage.join(format!("app-{language}"));
        let mut cc = Command::new(compiler);
        cc.arg(standard)
            .args(STRICT)
            .arg(&source)
            .arg("-o")
            .arg(&exe)
            .args(flags.stdout.split_whitespace())
            .arg(&rpath);
        run(cc, "readme-compile").assert_success(&format!("the README's {language} program"));

        let mut app = secret_client_command(&exe, &mock);
        app.env_remove("LD_LIBRARY_PATH");
        let ran = run(app, "readme-app");
        ran.assert_success(&format!("the README's {language} program"));
        let line = ran.value("Authorization: ");
        assert!(
            mock.is_token_valid(bearer_token(&format!("Authorization: {line}"))),
            "{language}: {line}"
        );

        let mut app = Command::new(&exe);
        clear_apca(&mut app);
        app.env_remove("LD_LIBRARY_PATH");
        let ran = run(app, "readme-app-fails");
        assert_eq!(ran.status, Some(1), "{language}: {ran:?}");
        assert!(
            ran.stderr.starts_with("alpaca-auth: ")
                && ran.stderr.contains("no credentials in the environment"),
            "{language}: {}",
            ran.stderr
        );
    }
    let _ = fs::remove_dir_all(&stage);
}

#[test]
fn cmake_find_package_links_shared_and_static_targets() {
    if !on_path("cmake") {
        eprintln!("skipped: cmake not found (apt-get install cmake; .ci/run installs it)");
        return;
    }
    let prefix = install("cmake-prefix");
    let project = prefix.join("downstream");
    fs::create_dir_all(&project).expect("project directory");
    fs::write(project.join("app.c"), DOWNSTREAM_C).expect("source");
    fs::write(
        project.join("CMakeLists.txt"),
        format!(
            "cmake_minimum_required(VERSION 3.16)\n\
             project(downstream C)\n\
             find_package(alpaca_auth {major}.{minor} CONFIG REQUIRED)\n\
             add_executable(app_shared app.c)\n\
             target_link_libraries(app_shared PRIVATE alpaca_auth::alpaca_auth)\n\
             add_executable(app_static app.c)\n\
             target_link_libraries(app_static PRIVATE alpaca_auth::alpaca_auth_static)\n",
            major = env!("CARGO_PKG_VERSION_MAJOR"),
            minor = env!("CARGO_PKG_VERSION_MINOR"),
        ),
    )
    .expect("CMakeLists.txt");
    let build = project.join("build");
    let mut configure = Command::new("cmake");
    configure
        .arg("-S")
        .arg(&project)
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
        .arg("-DCMAKE_C_FLAGS=-Wall -Wextra -Wpedantic -Werror");
    run(configure, "cmake-configure").assert_success("cmake configure");
    let mut make = Command::new("cmake");
    make.arg("--build").arg(&build);
    run(make, "cmake-build").assert_success("cmake --build");
    let expected = format!("{} config", env!("CARGO_PKG_VERSION"));
    for app in ["app_shared", "app_static"] {
        // The shared one finds the library through the rpath CMake sets in
        // the build tree.
        let ran = run(Command::new(build.join(app)), app);
        ran.assert_success(app);
        assert_eq!(ran.stdout.trim(), expected, "{app}");
    }
    // A request for another minor version of 0.x is refused.
    let mut wrong = Command::new("cmake");
    fs::write(
        project.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.16)\nproject(downstream C)\n\
         find_package(alpaca_auth 0.999 CONFIG REQUIRED)\n",
    )
    .expect("CMakeLists.txt");
    wrong
        .arg("-S")
        .arg(&project)
        .arg("-B")
        .arg(project.join("build-wrong"))
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()));
    let refused = run(wrong, "cmake-wrong-version");
    assert_ne!(
        refused.status,
        Some(0),
        "0.999 was accepted:\n{}",
        refused.stdout
    );
    let _ = fs::remove_dir_all(&prefix);
}

#[test]
fn abi_growth_null_outs_and_maximal_lines_from_c() {
    let built = built();
    let mock = mock();
    mock.set_token_len(Some(alpaca_auth::limits::MAX_ACCESS_TOKEN_LEN));
    let command = program_for(&built.program("abi"), "ABI", &mock);
    let ran = run_under_valgrind(command, "tests/c/abi.c");
    let length: usize = ran.value("line length: ").parse().expect("a length");
    assert_eq!(length + 1, alpaca_auth::limits::MAX_HEADER_LINE_LEN);
    assert!(ran.stdout.contains(", 0 failed"), "{}", ran.stdout);
    assert_eq!(mock.token_requests(), 1);
}
