//! Generate the register block from the header Vivado HLS exports
//! (hls/xxlic_layer_hw.h, checked in; `cargo xtask regs` regenerates it
//! from the kernel source) and the limits from hls/xlic_config.h. A user
//! with the tools can drop Vivado's own header in its place.
use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    let hls = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../hls");
    let hw = hls.join("xxlic_layer_hw.h");
    let cfg = hls.join("xlic_config.h");
    let cosim = hls.join("cosim/xlic_cosim.h");
    let layer_h = hls.join("xlic_layer.h");
    println!("cargo:rerun-if-changed={}", layer_h.display());
    println!("cargo:rerun-if-changed={}", hw.display());
    println!("cargo:rerun-if-changed={}", cfg.display());
    println!("cargo:rerun-if-changed={}", cosim.display());
    let hw_text = std::fs::read_to_string(&hw).expect("hls/xxlic_layer_hw.h");
    let cfg_text = std::fs::read_to_string(&cfg).expect("hls/xlic_config.h");

    // #define X<TOP>_<BUNDLE>_ADDR_<ARG>_DATA 0x.. / _BITS_<ARG>_DATA n
    let mut args: Vec<(String, u32, u32)> = Vec::new();
    let mut bits = std::collections::HashMap::new();
    // #define X<TOP>_<BUNDLE>_ADDR_AP_RETURN 0x.. (a function that returns a
    // value: its read-only register).
    let mut ap_return: Option<u32> = None;
    for line in hw_text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() != 3 || w[0] != "#define" {
            continue;
        }
        let value = |v: &str| -> u32 {
            match v.strip_prefix("0x") {
                Some(h) => u32::from_str_radix(h, 16).unwrap(),
                None => v.parse().unwrap(),
            }
        };
        if w[1].ends_with("_ADDR_AP_RETURN") {
            ap_return = Some(value(w[2]));
        } else if let Some(rest) = w[1].split_once("_ADDR_").map(|(_, r)| r) {
            if let Some(name) = rest.strip_suffix("_DATA") {
                args.push((name.to_lowercase(), value(w[2]), 0));
            }
        } else if let Some(rest) = w[1].split_once("_BITS_").map(|(_, r)| r) {
            if let Some(name) = rest.strip_suffix("_DATA") {
                bits.insert(name.to_lowercase(), value(w[2]));
            }
        }
    }
    for a in &mut args {
        a.2 = *bits.get(&a.0).unwrap_or_else(|| panic!("no BITS define for {}", a.0));
    }
    args.sort_by_key(|a| a.1);
    assert!(!args.is_empty(), "no argument registers in {}", hw.display());

    let mut out = String::new();
    writeln!(out, "register_structs! {{").unwrap();
    writeln!(out, "    /// The accelerator's AXI-Lite register block.").unwrap();
    writeln!(out, "    pub XlicLayerRegisters {{").unwrap();
    writeln!(out, "        (0x00 => pub ap_ctrl: ReadWrite<u32, AP_CTRL::Register>),").unwrap();
    writeln!(out, "        (0x04 => pub gie: ReadWrite<u32, GIE::Register>),").unwrap();
    writeln!(out, "        (0x08 => pub ier: ReadWrite<u32, IRQ::Register>),").unwrap();
    writeln!(out, "        (0x0c => pub isr: ReadWrite<u32, IRQ::Register>),").unwrap();
    let mut at = 0x10u32;
    if let Some(offset) = ap_return {
        assert_eq!(offset, 0x10, "ap_return is the first slot");
        writeln!(out, "        /// `ap_return`: the kernel's status (read-only; valid after ap_done; see `status`).").unwrap();
        writeln!(out, "        (0x10 => pub ap_return: ReadOnly<u32>),").unwrap();
        writeln!(out, "        (0x14 => _reserved_ret),").unwrap();
        at = 0x18;
    }
    let mut table = String::new();
    for (i, (name, offset, b)) in args.iter().enumerate() {
        assert!(*offset >= at, "register {name} at {offset:#x} overlaps the previous one");
        if *offset > at {
            writeln!(out, "        (0x{at:02x} => _reserved{i}),").unwrap();
        }
        let (ty, size) = if *b > 32 { ("Reg64", 8) } else { ("ReadWrite<u32>", 4) };
        writeln!(out, "        /// `{name}` ({b} bits).").unwrap();
        writeln!(out, "        (0x{offset:02x} => pub {name}: {ty}),").unwrap();
        writeln!(table, "    RegisterInfo {{ name: \"{name}\", offset: 0x{offset:02x}, bits: {b} }},").unwrap();
        at = offset + size;
    }
    // Vivado leaves a reserved word after each slot.
    writeln!(out, "        (0x{at:02x} => _reserved_end),").unwrap();
    writeln!(out, "        (0x{:02x} => @END),", at + 4).unwrap();
    writeln!(out, "    }}\n}}\n").unwrap();
    writeln!(out, "/// Every argument register, in address order (for dumps by name).").unwrap();
    writeln!(out, "pub const ARGUMENTS: &[RegisterInfo] = &[\n{table}];\n").unwrap();

    // #define XLIC_<NAME> <integer>
    writeln!(out, "/// Compile-time limits of the kernel (hls/xlic_config.h).").unwrap();
    writeln!(out, "pub mod limits {{").unwrap();
    for (name, value) in defines(&cfg_text, "XLIC_") {
        if value.parse::<u64>().is_ok() {
            writeln!(out, "    pub const {name}: usize = {value};").unwrap();
        } else if value.len() > 2 && value.starts_with('"') && value.ends_with('"') {
            writeln!(out, "    pub const {name}: &str = {value};").unwrap();
        }
    }
    writeln!(out, "}}").unwrap();
    // #define XLIC_STATUS_<NAME> <integer> (hls/xlic_layer.h): the status
    // word the kernel returns.
    let layer_text = std::fs::read_to_string(&layer_h).expect("hls/xlic_layer.h");
    writeln!(out, "/// The kernel's status word (`ap_return`; hls/xlic_layer.h).").unwrap();
    writeln!(out, "pub mod status {{").unwrap();
    for (name, value) in defines(&layer_text, "XLIC_STATUS_") {
        if value.parse::<u32>().is_ok() {
            writeln!(out, "    pub const {name}: u32 = {value};").unwrap();
        }
    }
    writeln!(out, "}}").unwrap();
    // The board (xlic_model::device::Board's constant of that key).
    let board = cfg_text
        .lines()
        .find_map(|l| l.strip_prefix("#define XLIC_BOARD ").map(|v| v.trim().trim_matches('"').to_ascii_uppercase()))
        .expect("hls/xlic_config.h has no XLIC_BOARD");
    writeln!(out, "/// The board this configuration is for (XLIC_BOARD).").unwrap();
    writeln!(out, "pub const BOARD: xlic_model::device::Board = xlic_model::device::Board::{board};").unwrap();

    // #define XLIC_COSIM_<NAME> <integer>: the co-simulation window.
    let cosim_text = std::fs::read_to_string(&cosim).expect("hls/cosim/xlic_cosim.h");
    writeln!(out, "/// Where the co-simulation bridge serves the registers under QEMU (hls/cosim/xlic_cosim.h).").unwrap();
    writeln!(out, "pub mod cosim {{").unwrap();
    for line in cosim_text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() == 3 && w[0] == "#define" && w[1].starts_with("XLIC_COSIM_") {
            let v = match w[2].strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => w[2].parse::<u64>().ok(),
            };
            if let Some(v) = v {
                let (name, ty) = (&w[1][11..], if v > u32::MAX as u64 { "u64" } else { "u32" });
                writeln!(out, "    pub const {name}: {ty} = 0x{v:x};").unwrap();
            }
        }
    }
    writeln!(out, "}}").unwrap();
    std::fs::write(PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("generated.rs"), out).unwrap();
}

/// The `#define PREFIX<NAME> <VALUE>` lines of a header (one token of
/// value), as (NAME, VALUE): the one reading of a header's constants.
fn defines<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    text.lines().filter_map(move |line| {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[..] {
            ["#define", name, value] => name.strip_prefix(prefix).map(|n| (n, value)),
            _ => None,
        }
    })
}
