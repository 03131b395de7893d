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
fn committed_stdcall_header_is_up_to_date() {
    let fresh = std::fs::read_to_string(env!("OM_GENERATED_STDCALL_HEADER")).unwrap();
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/include/oauthmail_stdcall.h"
    ))
    .expect("include/oauthmail_stdcall.h is missing: run OM_UPDATE_HEADER=1 cargo build");
    assert!(
        fresh == committed,
        "include/oauthmail_stdcall.h is stale: run `OM_UPDATE_HEADER=1 cargo build` and commit it"
    );
}

/// Every om_ function and callback type has its oms_ twin in oauthmail_stdcall.h, with the
/// same parameters, and every function and callback type of the main header says OM_CALL.
#[test]
fn the_stdcall_header_twins_every_function() {
    let main = std::fs::read_to_string(env!("OM_GENERATED_HEADER")).unwrap();
    let stdcall = std::fs::read_to_string(env!("OM_GENERATED_STDCALL_HEADER")).unwrap();
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let main_flat = flat(&main);
    let mut twins = 0;
    for decl in stdcall
        .lines()
        .filter(|l| l.contains("OMS_CALL") && l.ends_with(';'))
    {
        let back = decl.replace("OMS_CALL", "OM_CALL").replace("oms_", "om_");
        let back = back.trim_end_matches(';');
        assert!(
            main_flat.contains(&flat(back)),
            "{decl} has no identical om_ declaration in oauthmail.h"
        );
        twins += 1;
    }
    let functions = main_flat.matches("OM_CALL om_").count();
    let callbacks = main_flat.matches("(OM_CALL *om_").count();
    let bare = main.lines().filter(|l| l.contains("(*om_")).count();
    assert_eq!(bare, 0, "a callback typedef without OM_CALL");
    assert!(
        functions >= 50 && callbacks == 6,
        "{functions} functions, {callbacks} callbacks"
    );
    assert_eq!(
        twins,
        functions + callbacks,
        "not every declaration has an oms_ twin"
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
