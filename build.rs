//! Embeds every message catalog of `src/locales/`: adding a language
//! is adding one file there.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new("src/locales");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut languages: Vec<String> = std::fs::read_dir(dir)
        .expect("src/locales exists")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "txt").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    languages.sort();
    // English first: it is the fallback for every key.
    languages.sort_by_key(|l| l != "en");
    let mut code = String::from("&[\n");
    for lang in &languages {
        println!("cargo:rerun-if-changed=src/locales/{lang}.txt");
        let _ = writeln!(
            code,
            "    ({lang:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/src/locales/{lang}.txt\"))),"
        );
    }
    code.push(']');
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("locales.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
