//! Compiles the C driver of the `c_spsc_vs_rust` bench row against ringfork.h (whose directory
//! ringfork-capi's build script exports as `DEP_RINGFORK_C_INCLUDE`); its calls resolve to the
//! `#[no_mangle]` functions of the ringfork-capi rlib this crate depends on.
fn main() {
    let include = std::env::var("DEP_RINGFORK_C_INCLUDE").expect("ringfork-capi exports its include directory");
    println!("cargo:rerun-if-changed=src/bench/c_spsc.c");
    println!("cargo:rerun-if-changed={include}/ringfork.h");
    cc::Build::new()
        .file("src/bench/c_spsc.c")
        .include(&include)
        .opt_level(2)
        .warnings(true)
        .compile("ringfork_bench_c");
}
