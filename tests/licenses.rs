//! `licenses/THIRD-PARTY.md`: the licenses of every crate linked into the
//! library, generated from `cargo metadata` (which follows `Cargo.lock`)
//! with each crate's license files as its package ships them. This test
//! regenerates it and fails when the committed file differs, so a
//! dependency added, removed or updated in `Cargo.lock` without the list
//! fails CI. Regenerate with:
//!
//! ```sh
//! ALPACA_AUTH_BLESS_LICENSES=1 cargo test --test licenses
//! ```
//!
//! Linked means: the normal dependencies of the library, transitively, for
//! the target being built, with the default features (`platform-verifier`
//! is off by default and its crates are not listed); not dev- or
//! build-dependencies, and not proc-macro crates (they run in the compiler
//! and leave no code in the library).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BLESS: &str = "ALPACA_AUTH_BLESS_LICENSES";
const LIST: &str = "licenses/THIRD-PARTY.md";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One linked crate: name, version, license expression, license files.
struct Crate {
    name: String,
    version: String,
    license: String,
    files: Vec<(String, String)>,
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let host = host_triple();
    let output = Command::new(cargo)
        .current_dir(root())
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", &host])
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON")
}

/// The target this test was built for (`rustc -vV`'s host line).
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(rustc).arg("-vV").output().expect("rustc -vV");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

/// The crates linked into the library, from the resolve graph.
fn linked_crates(metadata: &Value) -> Vec<Crate> {
    let packages: HashMap<&str, &Value> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p))
        .collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes")
        .iter()
        .map(|n| (n["id"].as_str().expect("id"), n))
        .collect();
    let root_id = metadata["resolve"]["root"].as_str().expect("root package");
    let mut seen = BTreeSet::new();
    let mut todo = vec![root_id];
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().expect("deps") {
            let normal = dep["dep_kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()));
            let package = packages[dep["pkg"].as_str().expect("pkg")];
            let proc_macro = package["targets"].as_array().is_some_and(|targets| {
                targets.iter().any(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.contains(&"proc-macro".into()))
                })
            });
            if normal && !proc_macro {
                todo.push(package["id"].as_str().expect("id"));
            }
        }
    }
    let mut crates: Vec<Crate> = seen
        .into_iter()
        .filter(|id| *id != root_id)
        .map(|id| {
            let package = packages[id];
            let dir = Path::new(package["manifest_path"].as_str().expect("manifest path"))
                .parent()
                .expect("the package directory")
                .to_path_buf();
            Crate {
                name: text(package, "name"),
                version: text(package, "version"),
                license: text(package, "license"),
                files: license_files(&dir),
            }
        })
        .collect();
    crates.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    crates
}

/// The license files at the top of a package (LICENSE*, LICENCE*, COPYING*,
/// NOTICE*, COPYRIGHT*), by name.
fn license_files(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.expect("directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let upper = name.to_ascii_uppercase();
        let is_license = ["LICENSE", "LICENCE", "COPYING", "NOTICE", "COPYRIGHT"]
            .iter()
            .any(|prefix| upper.starts_with(prefix));
        if is_license && entry.path().is_file() {
            let text = fs::read_to_string(entry.path())
                .unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
            files.push((name, text));
        }
    }
    files.sort();
    files
}

/// The list: a table of the crates, then each crate's license texts (a
/// text identical to one printed before refers to it).
fn render(crates: &[Crate]) -> String {
    let mut out = String::new();
    out.push_str(
        "# Third-party licenses of libalpaca_auth\n\n\
         Generated by `tests/licenses.rs` from `cargo metadata` and `Cargo.lock`\n\
         (`ALPACA_AUTH_BLESS_LICENSES=1 cargo test --test licenses`); not edited\n\
         by hand. The crates linked into `libalpaca_auth.so` and `.a` built with\n\
         the default features: the library's normal dependencies, transitively,\n\
         without dev-, build- and proc-macro crates. Where a crate offers a\n\
         choice (`MIT OR Apache-2.0`), either license may be chosen. The Rust\n\
         standard library (`std`, `core`, `alloc` and their dependencies, MIT OR\n\
         Apache-2.0, <https://github.com/rust-lang/rust>) is also linked in.\n\n",
    );
    out.push_str(&format!("{} crates.\n\n", crates.len()));
    out.push_str("| crate | version | license (Cargo.toml) | license files |\n");
    out.push_str("|---|---|---|---|\n");
    for c in crates {
        let files: Vec<&str> = c.files.iter().map(|(name, _)| name.as_str()).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c.name,
            c.version,
            c.license,
            if files.is_empty() {
                "none shipped".to_owned()
            } else {
                files.join(", ")
            }
        ));
    }
    let mut printed: BTreeMap<&str, String> = BTreeMap::new();
    for c in crates {
        out.push_str(&format!(
            "\n## {} {}\n\nLicense: {}\n",
            c.name, c.version, c.license
        ));
        for (name, body) in &c.files {
            let body = body.trim_end();
            if let Some(first) = printed.get(body) {
                out.push_str(&format!("\n### {name}\n\nThe same text as {first}.\n"));
                continue;
            }
            printed.insert(body, format!("`{name}` of {} {}", c.name, c.version));
            out.push_str(&format!("\n### {name}\n\n````text\n{body}\n````\n"));
        }
    }
    out
}

#[test]
fn third_party_license_list_matches_cargo_lock() {
    let crates = linked_crates(&metadata());
    for expected in ["ring", "ureq", "rustls", "webpki-root-certs"] {
        assert!(
            crates.iter().any(|c| c.name == expected),
            "{expected} is linked but not listed"
        );
    }
    for not_linked in ["rcgen", "cbindgen", "serde_derive"] {
        assert!(
            !crates.iter().any(|c| c.name == not_linked),
            "{not_linked} is not linked into the library"
        );
    }
    let fresh = render(&crates);
    let path = root().join(LIST);
    if std::env::var_os(BLESS).is_some() {
        fs::create_dir_all(path.parent().expect("licenses/")).expect("licenses/");
        fs::write(&path, &fresh).expect("write the license list");
        return;
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        fresh == committed,
        "{LIST} does not match Cargo.lock; regenerate it: {BLESS}=1 cargo test --test licenses"
    );
}

#[test]
fn every_linked_crate_has_a_license_and_its_text() {
    for c in linked_crates(&metadata()) {
        assert!(
            !c.license.is_empty(),
            "{} {} declares no license",
            c.name,
            c.version
        );
        assert!(
            !c.files.is_empty(),
            "{} {} ships no license file: add its text to the list by hand",
            c.name,
            c.version
        );
    }
}
