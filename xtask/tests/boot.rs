//! The board boot recipe (boot/): what can be checked without Xilinx tools.
use std::process::Command;

fn boot_dir() -> std::path::PathBuf {
    xtask::repo_root().join("boot")
}

/// Without bootgen and inputs, the script names every missing thing and
/// exits with 2 (and builds nothing).
#[test]
fn make_boot_bin_says_what_is_missing() {
    let out_dir = std::env::temp_dir().join(format!("xlic-boot-{}", std::process::id()));
    let fsbl = out_dir.with_extension("fsbl.elf");
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
}
