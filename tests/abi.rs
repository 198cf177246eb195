//! The ABI promise to programs that are rebuilt rarely and upgraded by
//! dropping in a new `libalpaca_auth.so`: every export carries the version
//! node of the ABI (and nothing else is exported), a program records that
//! node, the programs compiled against the last released header
//! (`abi/<abi>/`) run against this library under valgrind, the
//! `ALPACA_AUTH_DEPRECATED` macro of renamed functions makes a compiler
//! warning, and `abi/check.sh` (abidiff against the committed baseline)
//! passes where libabigail's tools are installed.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use common::c::*;
use common::util::on_path;
use common::{account_status_with_lines as account_status, mock};

/// The version node of this ABI, as build.rs names it.
fn version_node() -> String {
    format!("ALPACA_AUTH_{}", abi())
}

fn readelf(args: &[&str], file: &std::path::Path) -> String {
    require_tool("readelf", "apt-get install binutils");
    let mut command = Command::new("readelf");
    command.args(args).arg(file);
    let ran = run(command, "readelf");
    ran.assert_success(&format!("readelf {args:?} {}", file.display()));
    ran.stdout
}

/// The defined symbols of the dynamic symbol table, with their versions
/// (`name@@NODE`), from `readelf --dyn-syms -W`.
fn defined_dynamic_symbols(file: &std::path::Path) -> Vec<String> {
    readelf(&["--dyn-syms", "-W"], file)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Num: Value Size Type Bind Vis Ndx Name
            let numbered = fields.first().is_some_and(|n| {
                n.strip_suffix(':')
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            });
            (numbered && fields.len() >= 8 && fields[6] != "UND").then(|| fields[7].to_owned())
        })
        .collect()
}

#[test]
fn every_export_carries_the_abi_version_node_and_nothing_else_is_exported() {
    let library = cargo_libdir().join("libalpaca_auth.so");
    let node = version_node();
    let symbols = defined_dynamic_symbols(&library);
    let mut functions = BTreeSet::new();
    let mut stray = Vec::new();
    for symbol in &symbols {
        match symbol.split_once("@@") {
            Some((name, version)) if name.starts_with("alpaca_auth_") && version == node => {
                functions.insert(name.to_owned());
            }
            // GNU ld's symbol of the version definition itself.
            None if *symbol == node => {}
            _ => stray.push(symbol),
        }
    }
    assert!(
        stray.is_empty(),
        "exports without the {node} node, or outside alpaca_auth_*: {stray:?}"
    );
    let declared: BTreeSet<String> = header_exports().into_iter().collect();
    assert_eq!(functions, declared, "versioned exports and header differ");
    let versions = readelf(&["-V"], &library);
    assert!(
        versions.contains(&format!("Name: {node}")),
        "no version definition {node}:\n{versions}"
    );
}

#[test]
fn a_program_records_the_version_node_of_the_functions_it_uses() {
    let built = built();
    let needs = readelf(&["-V"], &built.program("quickstart"));
    let section = needs
        .split("Version needs section")
        .nth(1)
        .unwrap_or_else(|| panic!("no version needs:\n{needs}"));
    let ours = section
        .split("File: ")
        .find(|file| file.starts_with(&soname()))
        .unwrap_or_else(|| panic!("no version need on {}:\n{section}", soname()));
    assert!(
        ours.contains(&format!("Name: {}", version_node())),
        "{ours}"
    );
}

#[test]
fn every_function_of_the_last_released_header_is_still_exported() {
    let old = fs::read_to_string(root().join("abi").join(abi()).join("alpaca_auth.h"))
        .expect("the last released header");
    let exported: BTreeSet<String> =
        defined_dynamic_symbols(&cargo_libdir().join("libalpaca_auth.so"))
            .iter()
            .filter_map(|symbol| symbol.split_once("@@").map(|(name, _)| name.to_owned()))
            .collect();
    let missing: Vec<String> = declared_functions(&old)
        .into_iter()
        .filter(|name| !exported.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "functions of abi/{}/alpaca_auth.h no longer exported (keep the old name \
         as an ALPACA_AUTH_DEPRECATED alias, or change the SONAME): {missing:?}",
        abi()
    );
}

#[test]
fn quickstart_built_against_the_last_released_header_runs() {
    let built = built_against_last_release();
    let mock = mock();
    let command = secret_client_command(&built.program("quickstart"), &mock);
    let ran = run_under_valgrind(command, "quickstart (last released header)");
    let line = ran.value("header: ");
    assert!(mock.is_token_valid(bearer_token(line)), "{line}");
    assert_eq!(account_status(&mock, &[line]), 200);
    assert_eq!(mock.token_requests(), 1);
}

#[test]
fn hammer_built_against_the_last_released_header_makes_one_token_request() {
    let built = built_against_last_release();
    let mock = mock();
    mock.set_token_delay(std::time::Duration::from_millis(300));
    let mut command = secret_client_command(&built.program("hammer"), &mock);
    command.arg("1");
    let ran = run_under_valgrind(command, "hammer (last released header)");
    assert_eq!(ran.value("failures: "), "0");
    assert_eq!(ran.value("token requests: "), "1");
}

#[test]
fn cpp_example_built_against_the_last_released_headers_runs() {
    let built = built_against_last_release();
    let mock = mock();
    let command = secret_client_command(&built.program("cpp_example"), &mock);
    let ran = run_under_valgrind(command, "cpp_example (last released headers)");
    assert_eq!(ran.value("new token after invalidate: "), "yes");
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn abi_rules_program_built_against_the_last_released_header_passes() {
    let built = built_against_last_release();
    let mock = mock();
    mock.set_token_len(Some(alpaca_auth::limits::MAX_ACCESS_TOKEN_LEN));
    let command = program_for(&built.program("abi"), "ABI", &mock);
    let ran = run_under_valgrind(command, "tests/c/abi.c (last released header)");
    assert!(ran.stdout.contains(", 0 failed"), "{}", ran.stdout);
}

/// A renamed function's old name, as cbindgen writes it from a Rust
/// `#[deprecated(note = ...)]` with this project's configuration, makes C
/// and C++ compilers warn with the note (and `-Werror` builds fail).
#[test]
fn deprecated_aliases_make_a_compiler_warning_naming_the_new_function() {
    let dir = scratch().join("deprecated");
    fs::create_dir_all(&dir).expect("scratch directory");
    let source = dir.join("lib.rs");
    fs::write(
        &source,
        "/// The old name.\n\
         #[deprecated(note = \"use alpaca_auth_new_name\")]\n\
         #[no_mangle]\n\
         pub extern \"C\" fn alpaca_auth_old_name() {}\n",
    )
    .expect("source");
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml");
    let mut header = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(&source)
        .generate()
        .expect("cbindgen")
        .write(&mut header);
    let header = String::from_utf8(header).expect("UTF-8");
    assert!(
        header.contains("ALPACA_AUTH_DEPRECATED(\"use alpaca_auth_new_name\")"),
        "{header}"
    );
    fs::write(dir.join("alpaca_auth.h"), &header).expect("header");
    let program = dir.join("use_old_name.c");
    fs::write(
        &program,
        "#include \"alpaca_auth.h\"\nint main(void) { alpaca_auth_old_name(); return 0; }\n",
    )
    .expect("program");
    for (compiler, language, standard) in [
        ("cc", "c", "c11"),
        ("c++", "c++", "c++11"),
        ("c++", "c++", "c++17"),
    ] {
        let mut command = Command::new(compiler);
        command
            .args(["-fsyntax-only", "-Wall"])
            .arg(format!("-std={standard}"))
            .args(["-x", language])
            .arg(&program);
        let ran = run(command, "deprecated");
        ran.assert_success(&format!("{compiler} -std={standard}"));
        assert!(
            ran.stderr.contains("deprecated") && ran.stderr.contains("use alpaca_auth_new_name"),
            "{compiler} -std={standard} gave no deprecation warning:\n{}",
            ran.stderr
        );
    }
}

/// `abi/check.sh`: abidiff of this library against the committed baseline
/// (skipped, with a note, where libabigail's tools are not installed; CI
/// installs them).
#[test]
fn abidiff_finds_no_incompatible_change_against_the_baseline() {
    if !on_path("abidiff") || !on_path("abidw") {
        eprintln!("skipped: abidiff not found (apt-get install abigail-tools)");
        return;
    }
    let mut command = Command::new(root().join("abi/check.sh"));
    command.arg(cargo_libdir().join("libalpaca_auth.so"));
    let ran = run(command, "abi/check.sh");
    ran.assert_success("abi/check.sh");
}
