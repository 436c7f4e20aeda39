//! Declares the cfgs the task dump depends on (set by the user's RUSTFLAGS), so the
//! `unexpected_cfgs` lint knows them.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(tokio_unstable)");
    println!("cargo::rustc-check-cfg=cfg(tokio_taskdump)");
}
