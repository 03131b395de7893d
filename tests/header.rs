//! The committed include/oauthmail.h must equal a fresh cbindgen run (done by build.rs into
//! OUT_DIR). Regenerate with `OM_UPDATE_HEADER=1 cargo build`.

#[test]
fn committed_header_is_up_to_date() {
    let fresh = std::fs::read_to_string(env!("OM_GENERATED_HEADER")).expect("generated header");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/oauthmail.h"))
            .expect("include/oauthmail.h is missing: run OM_UPDATE_HEADER=1 cargo build");
    assert!(
        fresh == committed,
        "include/oauthmail.h is stale: run `OM_UPDATE_HEADER=1 cargo build` and commit it"
    );
}

#[test]
fn every_exported_function_is_documented_in_the_header() {
    let header = std::fs::read_to_string(env!("OM_GENERATED_HEADER")).unwrap();
    let lines: Vec<&str> = header.lines().collect();
    let mut count = 0;
    for (i, line) in lines.iter().enumerate() {
        let is_fn = line.contains(" om_")
            && line.contains('(')
            && !line.starts_with(' ')
            && !line.starts_with("typedef");
        if is_fn {
            count += 1;
            assert!(
                i > 0 && lines[i - 1].trim() == "*/",
                "undocumented function: {line}"
            );
        }
    }
    assert!(count >= 20, "only {count} functions found in the header");
}
