//! The derives refuse what cannot be a signature at compile time, each
//! with a message that says what fits (compared with `errors/*.stderr`;
//! `TRYBUILD=overwrite` rewrites them after a deliberate change).

#[test]
fn bad_signatures_are_compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/errors/*.rs");
    cases.pass("tests/pass/*.rs");
}
