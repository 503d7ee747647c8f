//! The board boot recipe (boot/): what can be checked without Xilinx tools.
use std::process::Command;

mod common;

fn boot_dir() -> std::path::PathBuf {
    xtask::repo_root().join("boot")
}

/// Without bootgen and inputs, the script names every missing thing and
/// exits with 2 (and builds nothing).
#[test]
fn make_boot_bin_says_what_is_missing() {
    let work = common::scratch("xlic-boot", "make-boot-bin");
    let out_dir = work.join("out");
    let fsbl = work.join("fsbl.elf");
    std::fs::write(&fsbl, b"not really an FSBL").unwrap();
    let out = Command::new("bash")
        .arg(boot_dir().join("make-boot-bin.sh"))
        .args(["--fsbl"])
        .arg(&fsbl)
        .args(["--bit", "/nonexistent/design.bit", "--out"])
        .arg(&out_dir)
        // A PATH without Vivado/Vitis.
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bootgen is not on PATH"), "{err}");
    assert!(err.contains("PMU firmware (--pmufw): not given"), "{err}");
    assert!(err.contains("bitstream (--bit): /nonexistent/design.bit does not exist"), "{err}");
    assert!(!err.contains("FSBL"), "the FSBL was given and exists: {err}");
    assert!(!out_dir.exists(), "nothing is built when something is missing");
    let _ = std::fs::remove_file(fsbl);
}

/// The .bif names exactly the files the script puts beside it, and boots
/// the firmware at EL3 on core 0.
#[test]
fn the_bif_and_the_script_agree_on_file_names() {
    let bif = std::fs::read_to_string(boot_dir().join("xlic.bif")).unwrap();
    let script = std::fs::read_to_string(boot_dir().join("make-boot-bin.sh")).unwrap();
    for name in ["fsbl.elf", "pmufw.elf", "xlic.bit", "xlic-firmware.elf"] {
        assert!(bif.contains(&format!("] {name}")), "{name} not in the bif");
        assert!(script.contains(&format!("\"$out/{name}\"")), "the script does not place {name}");
    }
    assert!(bif.contains("[destination_cpu = a53-0, exception_level = el-3] xlic-firmware.elf"));
    // The FSBL stages a bitstream at 0x100000, the firmware's load address:
    // the bitstream must be loaded first (boot/README.md).
    assert!(bif.find("] xlic.bit").unwrap() < bif.find("] xlic-firmware.elf").unwrap(), "bitstream after the firmware in the .bif");
}

/// `cargo xtask jtag` without xsdb (or inputs) names what is missing and
/// exits with 2, building nothing.
#[test]
fn xtask_jtag_says_what_is_missing() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["jtag", "--bit", "/nonexistent/design.bit"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("xsdb is not on PATH"), "{err}");
    assert!(err.contains("bitstream (--bit): /nonexistent/design.bit does not exist"), "{err}");
    assert!(err.contains("PS set-up: give --fsbl FSBL.elf"), "{err}");
    assert!(!err.contains("Compiling"), "built the firmware although inputs are missing: {err}");
}

/// xsdb's commands as Tcl procedures that record their arguments instead of
/// touching hardware, with the answers a configured board gives (PL_DONE,
/// the PMU done powering up the PL, the image header): enough to run
/// boot/jtag.tcl's sequence under plain tclsh and check its order.
/// CRL_APB BOOT_MODE_USER is modelled (UG1087): boot_mode (3:0) reads the
/// mode pins (`::pins`, SW6 at SD1 by default) until software sets use_alt
/// (bit 8), then alt_boot_mode (15:12); `::bmu_writable 0` plays a board
/// where the write does not take.
const XSDB_RECORDER: &str = r#"
set ::calls {}
if {![info exists ::pins]} { set ::pins 0xe }
if {![info exists ::bmu_writable]} { set ::bmu_writable 1 }
set ::bmu 0
proc rec {args} { lappend ::calls [join $args " "] }
foreach c {connect targets rst dow con bpremove fpga configparams stop mask_write} {
    proc $c {args} "rec $c {*}\$args; return {}"
}
proc bpadd {args} { rec bpadd {*}$args; return 7 }
proc mwr {args} {
    set a [lsearch -all -inline -not $args -force]
    rec mwr [format 0x%08x [lindex $a 0]] {*}[lrange $a 1 end]
    if {[format 0x%08x [lindex $a 0]] eq "0xff5e0200" && $::bmu_writable} { set ::bmu [expr {[lindex $a 1]}] }
}
proc mrd {args} {
    set a [lsearch -all -inline -not -glob $args -*]
    rec mrd [format 0x%08x [lindex $a 0]] {*}[lrange $a 1 end]
    switch -- [format 0x%08x [lindex $a 0]] {
        0xffca3010 { return 8 }
        0x00100008 { return {0x43494c58 0x544f4f42} }
        0xff5e0200 { return [expr {($::bmu & ~0xf) | (($::bmu & 0x100) ? (($::bmu >> 12) & 0xf) : $::pins)}] }
        default { return 0 }
    }
}
rename after _after
proc after {ms} { rec after $ms }
rename exit _exit
proc exit {{code 0}} { foreach c $::calls { puts "CALL $c" }; _exit $code }
"#;

fn dry_run(args: &[&str], with_psu_init_procs: bool) -> (Option<i32>, Vec<String>, String) {
    dry_run_on(args, with_psu_init_procs, "")
}

/// `dry_run` on a board described by Tcl set before the recorder (`::pins`,
/// `::bmu_writable`).
fn dry_run_on(args: &[&str], with_psu_init_procs: bool, board: &str) -> (Option<i32>, Vec<String>, String) {
    // One folder per run: the tests run in parallel and each removes its own.
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = common::scratch("xlic-boot", &format!("jtag-{n}"));
    for f in ["design.bit", "fsbl.elf", "pmufw.elf", "firmware.elf"] {
        std::fs::write(dir.join(f), b"x").unwrap();
    }
    let psu = dir.join("psu_init.tcl");
    let procs = "proc psu_init {} { rec psu_init }\nproc psu_ps_pl_isolation_removal {} { rec psu_ps_pl_isolation_removal }\nproc psu_ps_pl_reset_config {} { rec psu_ps_pl_reset_config }\n";
    std::fs::write(&psu, if with_psu_init_procs { procs } else { "" }).unwrap();
    let mut argv = Vec::new();
    for a in args {
        argv.push(a.replace("DIR", &dir.display().to_string()));
    }
    let driver = format!(
        "{board}\n{XSDB_RECORDER}\nset argv {{{}}}\nsource {{{}}}\nexit 0\n",
        argv.join(" "),
        boot_dir().join("jtag.tcl").display()
    );
    let out = Command::new("tclsh").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().and_then(|mut c| {
        use std::io::Write;
        c.stdin.take().unwrap().write_all(driver.as_bytes())?;
        c.wait_with_output()
    });
    let out = out.expect("tclsh (Debian package tcl; run `cargo xtask setup`)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let calls = stdout.lines().filter_map(|l| l.strip_prefix("CALL ")).map(str::to_string).collect();
    let _ = std::fs::remove_dir_all(&dir);
    (out.status.code(), calls, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn position(calls: &[String], prefix: &str) -> usize {
    calls.iter().position(|c| c.starts_with(prefix)).unwrap_or_else(|| panic!("no '{prefix}' in:\n{}", calls.join("\n")))
}

/// The script's order under tclsh with xsdb's commands recorded, not run
/// (no board here), on a board whose SW6 is at SD1: JTAG boot mode through
/// BOOT_MODE_USER before the system reset, and checked after it; the
/// bitstream on the PS TAP right after the reset (Vitis's order); PMU
/// firmware behind the opened security gates with the PMU stopped; FSBL to
/// XFsbl_Exit; PL power-up and pl_resetn0 with its latch high before the
/// driver turns on; firmware at EL3 with the semihosting probe switched
/// off in its header; continue.
#[test]
fn jtag_tcl_runs_the_board_sequence_in_order() {
    let (code, calls, err) = dry_run(&["-bit", "DIR/design.bit", "-fsbl", "DIR/fsbl.elf", "-pmufw", "DIR/pmufw.elf", "-elf", "DIR/firmware.elf"], false);
    assert_eq!(code, Some(0), "{err}\n{}", calls.join("\n"));
    let order = [
        "connect -url tcp:127.0.0.1:3121",
        "mrd 0xff5e0200",
        "mwr 0xffca0010 0x0",
        "mwr 0xff5e0200 0x0100",
        "rst -system",
        "after 3000",
        "mrd 0xff5e0200",
        "targets -set -nocase -filter name =~ \"*PS TAP*\"",
        "fpga -file",
        "targets -set -nocase -filter name =~ \"*PSU*\"",
        "mask_write 0xffca0038 0x1c0 0x1c0",
        "targets -set -nocase -filter name =~ \"*MicroBlaze PMU*\"",
        "stop",
        "after 1000",
        "dow /",
        "con",
        "rst -processor -clear-registers",
        "dow /",
        "bpadd -addr &XFsbl_Exit",
        "con -block -timeout 60",
        "mwr 0xffd80120 0x00800000",
        "mwr 0xff0a002c 0x7fff8000",
        "mwr 0xff0a0344",
        "mwr 0xff0a0348",
        "mwr 0xff0a002c 0x7fff0000",
        "mwr 0xff0a002c 0x7fff8000",
        "mrd 0xffca3010",
        "rst -processor -clear-registers",
        "mrd 0x00100008",
        "mwr 0x00100010 1",
        "con",
    ];
    let mut at = 0;
    for step in order {
        let i = at + position(&calls[at..], step);
        at = i + 1;
    }
    assert!(calls[at - 2].starts_with("mwr 0x00100010"), "the boot options are written right before con: {calls:?}");
    assert!(calls.iter().any(|c| c.contains("pmufw.elf")) && calls.iter().any(|c| c.contains("firmware.elf")), "{calls:?}");
    let pmufw = position(&calls, "dow");
    assert!(calls[pmufw].contains("pmufw.elf"), "the PMU firmware is the first download: {calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("mwr 0xffca0038")), "the security gates are opened with mask_write (bits 8:6 only)");
}

/// With psu_init.tcl instead of an FSBL, its own procedures run, after the
/// bitstream as in Vitis's psu_init flow.
#[test]
fn jtag_tcl_uses_psu_init_when_given() {
    let (code, calls, err) = dry_run(&["-bit", "DIR/design.bit", "-psu-init", "DIR/psu_init.tcl", "-elf", "DIR/firmware.elf"], true);
    assert_eq!(code, Some(0), "{err}");
    let fpga = position(&calls, "fpga -file");
    let init = position(&calls, "psu_init");
    let iso = position(&calls, "psu_ps_pl_isolation_removal");
    let reset = position(&calls, "psu_ps_pl_reset_config");
    assert!(fpga < init && init < iso && iso < reset, "{calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("bpadd")), "no FSBL breakpoint without an FSBL");
    assert!(!calls.iter().any(|c| c.starts_with("mask_write")), "no PMU firmware given: the gates stay shut");
}

/// SW6 already at JTAG: the same switch is harmless and the load goes on.
#[test]
fn jtag_tcl_runs_with_the_switches_at_jtag() {
    let (code, calls, err) = dry_run_on(&["-bit", "DIR/design.bit", "-fsbl", "DIR/fsbl.elf", "-elf", "DIR/firmware.elf"], false, "set ::pins 0x0");
    assert_eq!(code, Some(0), "{err}");
    assert!(calls.iter().any(|c| c.starts_with("fpga -file")), "{calls:?}");
}

/// A board where BOOT_MODE_USER does not take the JTAG mode: the script
/// stops after the reset with the way out, before any download.
#[test]
fn jtag_tcl_stops_if_the_boot_mode_stays_sd() {
    let (code, calls, err) = dry_run_on(&["-bit", "DIR/design.bit", "-fsbl", "DIR/fsbl.elf", "-elf", "DIR/firmware.elf"], false, "set ::bmu_writable 0");
    assert_eq!(code, Some(1), "{err}\n{}", calls.join("\n"));
    assert!(err.contains("the boot mode is still 0xe after the reset") && err.contains("SW6 to JTAG"), "{err}");
    let rst = position(&calls, "rst -system");
    assert!(!calls[rst..].iter().any(|c| c.starts_with("fpga") || c.starts_with("dow")), "{calls:?}");
}

/// Missing inputs: every one named, exit status 2, no xsdb command issued.
#[test]
fn jtag_tcl_names_missing_inputs() {
    let (code, calls, err) = dry_run(&["-bit", "/nonexistent/design.bit"], false);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bitstream (-bit): /nonexistent/design.bit does not exist"), "{err}");
    assert!(err.contains("PS set-up: give -fsbl"), "{err}");
    assert!(calls.is_empty(), "{calls:?}");
}
