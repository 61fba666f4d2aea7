//! Puts the board's memory map where `cortex-m-rt`'s `link.x` finds it as `memory.x`: the MPS2 AN386
//! (Cortex-M4) by default, the micro:bit (Cortex-M0) for `thumbv6m-none-eabi`.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let memory: &[u8] = if env::var("TARGET").unwrap_or_default().starts_with("thumbv6m") {
        include_bytes!("memory-thumbv6m.x")
    } else {
        include_bytes!("memory-mps2.x")
    };
    fs::write(out.join("memory.x"), memory).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory-mps2.x");
    println!("cargo:rerun-if-changed=memory-thumbv6m.x");
    println!("cargo:rerun-if-changed=build.rs");
}
