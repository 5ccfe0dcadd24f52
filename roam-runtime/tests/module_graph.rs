//! The runtime's modules form a stack: no module reaches, directly or through others, back into
//! itself. `docs/architecture.md` draws the layers; this test keeps them honest by reading the
//! `crate::` paths in every source file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a source file belongs to (`None` for `lib.rs`, the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(name) => Some(name.to_owned()),
        None => Some(first),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first path segments named after `crate::` in `code` (handling `crate::{a, b::c}`).
fn crate_refs(code: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut end = group.len();
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let mut depth = 0;
            let mut start = 0;
            let inner = &group[..end];
            for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        refs.push(first_segment(&inner[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            refs.push(first_segment(rest));
        }
    }
    refs
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Items the crate root re-exports from its modules (`pub use server::{Connector, ..}`), so a
/// `crate::Connector` path counts as an edge to `server`.
fn root_reexports(lib: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut items = BTreeMap::new();
    for stmt in lib.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = first_segment(rest);
        if !modules.contains(&module) {
            continue;
        }
        let names = rest[module.len()..].trim_start_matches("::");
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = first_segment(name.rsplit("::").next().unwrap_or(""));
            if !name.is_empty() {
                items.insert(name, module.clone());
            }
        }
    }
    items
}

/// Module -> the other top-level modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let reexports = root_reexports(&lib, &modules);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable source");
        // Comments and docs may mention anything; only code counts.
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let entry = graph.entry(module.clone()).or_default();
        for name in crate_refs(&code) {
            let target = reexports.get(&name).cloned().unwrap_or(name);
            if target != module && modules.contains(&target) {
                entry.insert(target);
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = path.iter().position(|n| n == node) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_runtime_modules_form_a_stack() {
    let graph = graph();
    assert!(
        graph.len() >= 10,
        "the parser sees the runtime's modules: {graph:?}"
    );
    assert!(
        graph["driver"].contains("session") || graph["driver"].contains("inbox"),
        "the parser sees real edges: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn low_layers_do_not_reach_up() {
    let graph = graph();
    // The handles' side of the driver interface knows nothing of the handles or the driver.
    for (low, high) in [
        ("inbox", "driver"),
        ("inbox", "connection"),
        ("inbox", "channel"),
        ("error", "channel"),
        ("codec", "schemas"),
        ("channel", "connection"),
        ("channel", "driver"),
    ] {
        assert!(
            !graph[low].contains(high),
            "{low} must not import {high}: {graph:?}"
        );
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        crate_refs("use crate::{a::X, b, c::{d, e}};\nlet x = crate::f::g();"),
        vec!["a", "b", "c", "f"]
    );
    let modules = BTreeSet::from(["server".to_owned(), "channel".to_owned()]);
    let items = root_reexports(
        "mod server;\npub use server::{Connector, connect};\npub use channel::Tx;\npub use facet;",
        &modules,
    );
    assert_eq!(items.get("Connector").map(String::as_str), Some("server"));
    assert_eq!(items.get("connect").map(String::as_str), Some("server"));
    assert_eq!(items.get("Tx").map(String::as_str), Some("channel"));
    assert!(!items.contains_key("facet"));
}
