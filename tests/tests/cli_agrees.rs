//! `roam ids` and the macro agree: the CLI, reading this crate's service traits from source,
//! finds exactly the services, methods and method IDs that `#[roam::service]` put in their
//! descriptors when it compiled the same source.

use std::path::PathBuf;

use roam::ServiceDescriptor;
use roam_tests::{CALCULATOR_DESCRIPTOR, NOTEBOOK_DESCRIPTOR, STREAMER_DESCRIPTOR};

#[test]
fn roam_ids_prints_the_method_ids_of_the_macros_descriptors() {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let sources = roam_cli::load::load(&[source]).expect("the test crate's source loads");
    let model = roam_cli::model::build(&sources).expect("the CLI models it");
    let compiled: [&ServiceDescriptor; 3] = [
        &CALCULATOR_DESCRIPTOR,
        &NOTEBOOK_DESCRIPTOR,
        &STREAMER_DESCRIPTOR,
    ];

    let from_cli: Vec<(String, Vec<(String, u64)>)> = model
        .services
        .iter()
        .map(|s| {
            let methods = s
                .def
                .methods
                .iter()
                .map(|m| (m.name.clone(), m.id))
                .collect();
            (s.def.name.clone(), methods)
        })
        .collect();
    let from_macro: Vec<(String, Vec<(String, u64)>)> = compiled
        .iter()
        .map(|d| {
            let methods = d
                .methods
                .iter()
                .map(|m| (m.name.to_owned(), m.id))
                .collect();
            (d.name.to_owned(), methods)
        })
        .collect();
    assert_eq!(from_cli, from_macro);

    // And the printed table carries each of them.
    let table = roam_cli::ids::render(&model);
    for descriptor in compiled {
        for method in descriptor.methods {
            let id = format!("{:#018x}", method.id);
            assert!(
                table.lines().any(|line| {
                    let cells: Vec<&str> = line.split_whitespace().collect();
                    cells.get(..3) == Some(&[descriptor.name, method.name, id.as_str()][..])
                }),
                "{}.{} {id} missing from\n{table}",
                descriptor.name,
                method.name
            );
        }
    }
}
