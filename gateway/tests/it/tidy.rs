//! The dependency direction is a test: every edge between workspace crates must be one
//! that docs/ARCHITECTURE.md allows.

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

#[test]
fn crate_dependencies_follow_the_architecture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
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
