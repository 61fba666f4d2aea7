//! Tells dependents where `ringfork.h` is: `DEP_RINGFORK_C_INCLUDE` in their build scripts (the bench
//! of ringfork-cli compiles a C driver against it).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    println!("cargo:include={dir}/include");
    println!("cargo:rerun-if-changed=build.rs");
}
