//! The layout is a test: every edge between workspace crates must be one that
//! docs/ARCHITECTURE.md allows, heavy outside crates stay in the crates whose idea they
//! serve, and every dependency is declared once, in the root manifest.

use std::collections::BTreeSet;
use std::path::Path;

/// Reads the allowed edges from the table in docs/ARCHITECTURE.md: lines of the form
/// `| rucket-a | rucket-b, rucket-c |` under the heading "Allowed dependencies".
fn allowed_edges(root: &Path) -> BTreeSet<(String, String)> {
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("docs/ARCHITECTURE.md");
    let section = doc.split("## Allowed dependencies").nth(1).expect("an 'Allowed dependencies' section");
    let mut edges = BTreeSet::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 || !cells[1].starts_with("rucket-") {
            continue;
        }
        for to in cells[2].split(',').map(str::trim).filter(|t| t.starts_with("rucket-")) {
            edges.insert((cells[1].to_owned(), to.to_owned()));
        }
    }
    edges
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn metadata(root: &Path) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Outside crates that belong to one idea of the architecture, and the workspace crates
/// that may use them (as normal dependencies; tests may use anything).
const CONFINED: &[(&str, &[&str])] = &[
    ("axum", &["rucket-gateway", "rucket-cli"]),
    ("hyper", &["rucket-gateway", "rucket-cli"]),
    ("hyper-util", &["rucket-gateway", "rucket-cli"]),
    ("s3s", &["rucket-gateway", "rucket-cli"]),
    ("http", &["rucket-gateway", "rucket-cli"]),
    ("reqwest", &["rucket-gateway", "rucket-cli"]),
    ("openraft", &["rucket-log"]),
];

/// Workspace crates that must stay free of an async runtime: pure cores.
const NO_TOKIO: &[&str] = &["rucket-schemas", "rucket-policy", "rucket-projections"];

#[test]
fn outside_crates_stay_where_they_belong() {
    let metadata = metadata(workspace_root());
    let mut violations = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        let from = package["name"].as_str().unwrap();
        for dep in package["dependencies"].as_array().unwrap() {
            let to = dep["name"].as_str().unwrap();
            if !dep["kind"].is_null() {
                continue;
            }
            if let Some((_, allowed)) = CONFINED.iter().find(|(name, _)| *name == to) {
                if !allowed.contains(&from) {
                    violations.push(format!("{from} -> {to} (only {allowed:?})"));
                }
            }
            if to == "tokio" && NO_TOKIO.contains(&from) {
                violations.push(format!("{from} -> tokio (a pure core)"));
            }
        }
    }
    assert!(violations.is_empty(), "outside crates out of place: {violations:?}");
}

#[test]
fn every_dependency_is_declared_once_in_the_root_manifest() {
    let root = workspace_root();
    let metadata = metadata(root);
    let mut loose = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        let manifest_path = package["manifest_path"].as_str().unwrap();
        let manifest: toml::Table = std::fs::read_to_string(manifest_path).unwrap().parse().unwrap();
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else { continue };
            for (name, spec) in deps {
                let inherited = spec.get("workspace").and_then(|w| w.as_bool()) == Some(true);
                if !inherited {
                    loose.push(format!("{} [{section}] {name}", package["name"].as_str().unwrap()));
                }
            }
        }
    }
    assert!(loose.is_empty(), "dependencies not taken from [workspace.dependencies]: {loose:?}");
    let root_manifest: toml::Table =
        std::fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap();
    assert!(root_manifest.get("package").is_none(), "the root manifest is a virtual manifest");
}

#[test]
fn the_gateway_holds_no_command_line_client() {
    // Client-side commands and their SigV4 signing live in cli/, never in the gateway.
    let src = workspace_root().join("gateway/src");
    let mut found = Vec::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for needle in ["aws_sigv4", "clap::Subcommand", "fn main("] {
                    if text.contains(needle) {
                        found.push(format!("{}: {needle}", path.display()));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "client code in the gateway: {found:?}");
}

#[test]
fn crate_dependencies_follow_the_architecture() {
    let root = workspace_root();
    let metadata = metadata(root);
    let allowed = allowed_edges(root);
    assert!(!allowed.is_empty(), "the architecture doc lists no edges");
    let mut violations = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        let from = package["name"].as_str().unwrap();
        for dep in package["dependencies"].as_array().unwrap() {
            let to = dep["name"].as_str().unwrap();
            let normal = dep["kind"].is_null();
            if normal && to.starts_with("rucket-") && !allowed.contains(&(from.to_owned(), to.to_owned())) {
                violations.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(violations.is_empty(), "edges not allowed by docs/ARCHITECTURE.md: {violations:?}");
}
