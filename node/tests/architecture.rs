//! `docs/ARCHITECTURE.md` names code as `path/to/file.rs::Type::function` (and files as
//! `path/to/file.rs`) so that a newcomer can follow a post without grep. This test fails when
//! a name there no longer exists, so the document cannot drift from the code unnoticed.

use std::path::{Path, PathBuf};

/// Every backticked span of `line`.
fn spans(line: &str) -> impl Iterator<Item = &str> {
    line.split('`').skip(1).step_by(2)
}

/// `node/src/api/mod.rs::Node::post` → (`node/src/api/mod.rs`, [`Node`, `post`]); a bare
/// `dir/file.rs` has no names.
fn reference(span: &str) -> Option<(&str, Vec<&str>)> {
    let (file, names) = match span.split_once(".rs::") {
        Some((file, names)) => (&span[..file.len() + 3], names.split("::").collect()),
        None if span.ends_with(".rs") => (span, Vec::new()),
        None => return None,
    };
    let plausible = file.contains('/')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_/.".contains(c))
        && names.iter().all(|n: &&str| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    plausible.then_some((file, names))
}

/// Whether `source` holds a definition of `name`: `fn name` for the last segment, a type or
/// trait of that name for the others.
fn defines(source: &str, name: &str, is_fn: bool) -> bool {
    let kinds: &[&str] = if is_fn {
        &["fn "]
    } else {
        &["struct ", "enum ", "trait ", "type ", "impl "]
    };
    kinds.iter().any(|kind| {
        source
            .match_indices(&format!("{kind}{name}"))
            .any(|(at, matched)| {
                let after = source[at + matched.len()..].chars().next();
                !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    })
}

#[test]
fn every_function_named_in_architecture_md_exists() {
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf();
    let doc_path = root.join("docs/ARCHITECTURE.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/ARCHITECTURE.md");
    let (mut functions, mut missing) = (0, Vec::new());
    for (number, line) in doc.lines().enumerate() {
        for (file, names) in spans(line).filter_map(reference) {
            let Ok(source) = std::fs::read_to_string(root.join(file)) else {
                missing.push(format!("line {}: no file {file}", number + 1));
                continue;
            };
            for (i, name) in names.iter().enumerate() {
                let is_fn = i + 1 == names.len();
                functions += usize::from(is_fn);
                if !defines(&source, name, is_fn) {
                    let what = if is_fn { "function" } else { "type" };
                    missing.push(format!("line {}: no {what} {name} in {file}", number + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} names no longer exist; fix them:\n{}",
        doc_path.display(),
        missing.join("\n")
    );
    // The post path and the sync path name a few dozen functions; far fewer means the
    // parser above stopped finding them.
    assert!(functions >= 30, "only {functions} functions found");
}

#[test]
fn the_parser_finds_names_and_refuses_prose() {
    assert_eq!(
        reference("node/src/api/mod.rs::Node::post"),
        Some(("node/src/api/mod.rs", vec!["Node", "post"]))
    );
    assert_eq!(
        reference("node/src/sync/wire.rs"),
        Some(("node/src/sync/wire.rs", vec![]))
    );
    assert_eq!(reference("Core::compose"), None);
    assert_eq!(reference("cove post --group club"), None);
    assert!(defines(
        "impl Actor {\n    pub(super) fn send(",
        "send",
        true
    ));
    assert!(!defines("fn sender(", "send", true));
    assert!(defines("pub struct Node {", "Node", false));
}
