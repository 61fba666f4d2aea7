//! Compiles the C driver of the `c_spsc_vs_rust` bench row against ringfork.h; its calls resolve to
//! the `#[no_mangle]` functions of the ringfork-capi rlib this crate depends on.
fn main() {
    println!("cargo:rerun-if-changed=src/bench/c_spsc.c");
    println!("cargo:rerun-if-changed=../../core/capi/include/ringfork.h");
    cc::Build::new()
        .file("src/bench/c_spsc.c")
        .include("../../core/capi/include")
        .opt_level(2)
        .warnings(true)
        .compile("ringfork_bench_c");
}
