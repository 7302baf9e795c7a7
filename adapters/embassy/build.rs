//! Sets `cfg(mconn_cortex_m)` on Cortex-M targets, where the default lock
//! is embassy-sync's `ThreadModeRawMutex` (it exists only there).

fn main() {
    println!("cargo:rustc-check-cfg=cfg(mconn_cortex_m)");
    let target = std::env::var("TARGET").unwrap_or_default();
    let cortex_m = ["thumbv6m-", "thumbv7m-", "thumbv7em-", "thumbv8m."];
    if cortex_m.iter().any(|p| target.starts_with(p)) {
        println!("cargo:rustc-cfg=mconn_cortex_m");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
