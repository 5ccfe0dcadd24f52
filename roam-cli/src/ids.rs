//! `roam ids`: one line per method with its ID and schema hashes.
//!
//! Owns: the table's format. Columns: service, method, method ID, the content hash of the
//! argument payload's schema (`args`), and of the response's schema (`Result<ok, err>`, see
//! `roam_codegen::MethodSchemas::returns`), each `0x` + 16 hex digits. Columns are
//! left-aligned, separated by two spaces, without trailing spaces; rows are in file order,
//! then declaration order.

use crate::model::{Model, hex_u64};

/// The table for `model`, ending with a newline.
pub fn render(model: &Model) -> String {
    let mut rows = vec![[
        "SERVICE".to_owned(),
        "METHOD".to_owned(),
        "METHOD ID".to_owned(),
        "ARGS HASH".to_owned(),
        "RETURN HASH".to_owned(),
    ]];
    for service in &model.services {
        for (method, schemas) in service.methods() {
            rows.push([
                service.def.name.clone(),
                method.name.clone(),
                hex_u64(method.id),
                hex_u64(schemas.args_hash()),
                hex_u64(schemas.returns_hash()),
            ]);
        }
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
