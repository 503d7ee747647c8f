//! `cargo xtask jtag`: load the firmware onto a ZCU102 over JTAG with
//! boot/jtag.tcl (xsdb, from Vivado/Vitis or XSCT). Without xsdb, or with an
//! input missing, it names every missing thing and exits with status 2,
//! before building anything.
use crate::firmware::{self, BuildOptions};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct JtagArgs {
    /// Bitstream of the design with the xlic_layer IP (Vivado write_bitstream).
    #[arg(long, value_name = "DESIGN.bit")]
    pub bit: Option<PathBuf>,
    /// FSBL for the ZCU102 (Vitis zynqmp_fsbl), run until XFsbl_Exit.
    #[arg(long, value_name = "FSBL.elf", conflicts_with = "psu_init")]
    pub fsbl: Option<PathBuf>,
    /// psu_init.tcl from the hardware export (XSA), instead of an FSBL.
    #[arg(long, value_name = "psu_init.tcl")]
    pub psu_init: Option<PathBuf>,
    /// PMU firmware (Vitis zynqmp_pmufw); the PL power-up request needs it.
    #[arg(long, value_name = "PMUFW.elf")]
    pub pmufw: Option<PathBuf>,
    /// Firmware ELF (default: a release build made now).
    #[arg(long, value_name = "ELF")]
    pub elf: Option<PathBuf>,
    /// hw_server to connect to.
    #[arg(long, value_name = "URL", default_value = "tcp:127.0.0.1:3121")]
    pub url: String,
}

/// The JTAG script (boot/jtag.tcl).
pub fn script() -> PathBuf {
    crate::repo_root().join("boot").join("jtag.tcl")
}

/// xsdb on PATH, if any.
pub fn find_xsdb() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("xsdb")).find(|p| p.is_file())
}

/// Everything that keeps the load from starting, in words.
pub fn missing(args: &JtagArgs, xsdb: Option<&Path>) -> Vec<String> {
    let mut m = Vec::new();
    if xsdb.is_none() {
        m.push("xsdb is not on PATH: install Vivado or Vitis (2019.2 or later) and source its settings64.sh".to_string());
    }
    match &args.bit {
        None => m.push("bitstream (--bit): not given (Vivado: write_bitstream of the design with the xlic_layer IP, boot/README.md)".into()),
        Some(p) if !p.is_file() => m.push(format!("bitstream (--bit): {} does not exist", p.display())),
        _ => {}
    }
    if args.fsbl.is_none() && args.psu_init.is_none() {
        m.push("PS set-up: give --fsbl FSBL.elf (Vitis zynqmp_fsbl) or --psu-init psu_init.tcl (from the XSA)".into());
    }
    for (what, p) in [("--fsbl", &args.fsbl), ("--psu-init", &args.psu_init), ("--pmufw", &args.pmufw), ("--elf", &args.elf)] {
        if let Some(p) = p {
            if !p.is_file() {
                m.push(format!("{what}: {} does not exist", p.display()));
            }
        }
    }
    m
}

/// Check, build if needed, and run xsdb with the script; returns the exit
/// status (2: something is missing).
pub fn run(args: &JtagArgs) -> Result<i32> {
    let xsdb = find_xsdb();
    let missing = missing(args, xsdb.as_deref());
    if !missing.is_empty() {
        eprintln!("cargo xtask jtag: cannot load the board; missing:");
        for m in &missing {
            eprintln!("  - {m}");
        }
        eprintln!("(boot/README.md, \"Loading over JTAG\", lists what each is and where it comes from)");
        return Ok(2);
    }
    let elf = match &args.elf {
        Some(e) => e.clone(),
        None => firmware::build(&BuildOptions { release: true, ..Default::default() })?,
    };
    let mut cmd = Command::new(xsdb.expect("checked above"));
    cmd.arg(script()).args(["-url", &args.url]).arg("-elf").arg(&elf);
    cmd.arg("-bit").arg(args.bit.as_ref().expect("checked above"));
    for (flag, p) in [("-fsbl", &args.fsbl), ("-psu-init", &args.psu_init), ("-pmufw", &args.pmufw)] {
        if let Some(p) = p {
            cmd.arg(flag).arg(p);
        }
    }
    eprintln!("[xtask] {cmd:?}");
    let st = cmd.status().context("cannot start xsdb")?;
    Ok(st.code().unwrap_or(1))
}
