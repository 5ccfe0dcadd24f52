//! The protocol core must stay free of I/O runtimes and of reflection: nothing in its
//! dependency tree may be tokio (or any of its crates) or facet. Checked against the workspace's
//! `Cargo.lock`, whose dependency lists are a superset of what roam-proto builds with (a lock
//! file does not tell normal from optional edges), so the check errs on the strict side.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// `name -> dependency names` for every package in the lock file.
fn lock_graph(lock: &str) -> BTreeMap<String, Vec<String>> {
    let mut graph = BTreeMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let mut name = None;
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in block.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("name = ") {
                name = Some(v.trim_matches('"').to_owned());
            } else if line.starts_with("dependencies = [") {
                in_deps = !line.ends_with(']');
            } else if in_deps {
                if line == "]" {
                    in_deps = false;
                } else {
                    // ` "name"` or ` "name version"`
                    let entry = line.trim_matches(|c| c == '"' || c == ',');
                    if let Some(dep) = entry.split_whitespace().next() {
                        deps.push(dep.to_owned());
                    }
                }
            }
        }
        if let Some(name) = name {
            graph.entry(name).or_insert_with(Vec::new).extend(deps);
        }
    }
    graph
}

fn reachable(graph: &BTreeMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([root.to_owned()]);
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        for dep in graph.get(&name).into_iter().flatten() {
            queue.push_back(dep.clone());
        }
    }
    seen
}

#[test]
fn roam_proto_depends_on_neither_tokio_nor_facet() {
    let lock_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
    let lock = std::fs::read_to_string(lock_path).expect("the workspace has a Cargo.lock");
    let graph = lock_graph(&lock);
    assert!(
        graph.contains_key("roam-proto"),
        "roam-proto is in the lock file"
    );
    let tree = reachable(&graph, "roam-proto");
    assert!(tree.contains("postcard"), "the walk sees real dependencies");
    let forbidden: Vec<&String> = tree
        .iter()
        .filter(|n| n.starts_with("tokio") || n.starts_with("facet") || *n == "mio")
        .collect();
    assert!(
        forbidden.is_empty(),
        "roam-proto must stay sans-IO and reflection-free, but its tree has {forbidden:?}"
    );
}

#[test]
fn the_check_would_notice_tokio() {
    // The same walk from roam-runtime does find tokio and facet, so a silent parser bug cannot
    // make the test above pass vacuously.
    let lock_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
    let lock = std::fs::read_to_string(lock_path).expect("the workspace has a Cargo.lock");
    let tree = reachable(&lock_graph(&lock), "roam-runtime");
    assert!(tree.contains("tokio") && tree.contains("facet"));
}
