//! The module boundaries README's architecture promises, checked on the source: the real-time
//! path knows nothing of HTTP, and the actors that serialize writes know neither HTTP nor the
//! real-time path (so no import circle can run through them again).

use std::fs;
use std::path::Path;

/// Every `crate::<module>` path named by code (comments left out) in the files under `dir`.
fn named_modules(dir: &Path, found: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            named_modules(&path, found);
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let module: String = line[at + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push((path.display().to_string(), module));
            }
        }
    }
}

fn assert_never_names(dir: &str, forbidden: &[&str]) {
    let mut found = Vec::new();
    named_modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut found);
    assert!(
        !found.is_empty(),
        "{dir} names no module at all: wrong folder?"
    );
    let bad: Vec<_> = found
        .iter()
        .filter(|(_, module)| forbidden.contains(&module.as_str()))
        .collect();
    assert!(bad.is_empty(), "{dir} must not use {forbidden:?}: {bad:?}");
}

#[test]
fn the_real_time_path_knows_nothing_of_http() {
    assert_never_names("src/realtime", &["http", "startup"]);
}

#[test]
fn the_write_serializing_actors_know_neither_http_nor_the_real_time_path() {
    assert_never_names("src/actors", &["http", "realtime", "startup"]);
}
