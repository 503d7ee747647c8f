//! The firmware's console, driven from the host through QEMU's stdio as a
//! person would type on it: every reply checked, for every entry level.
//!
//! The ELF comes from XLIC_FIRMWARE_ELF (set by `cargo xtask test`), or is
//! built on first use (needs the Debian toolchain: `cargo xtask setup`).
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use xtask::firmware;
use xtask::qemu::{BootEl, Qemu, Session, PROMPT};

mod common;

const BOOT: Duration = Duration::from_secs(60);
const REPLY: Duration = Duration::from_secs(30);

fn firmware_elf() -> PathBuf {
    firmware::elf_for_tests()
}

fn boot(el: BootEl) -> Session {
    let mut s = Session::start(&Qemu::new(firmware_elf(), el)).expect("start QEMU");
    let banner = s.expect(PROMPT, BOOT).expect("first prompt");
    assert!(banner.contains("X-LIC firmware"), "banner: {banner}");
    s
}

#[test]
fn help_lists_every_command() {
    let mut s = boot(BootEl::El3);
    let help = s.command("help", REPLY).unwrap();
    for usage in ["help [COMMAND]", "info", "layers", "fault null|stack|undef", "reboot", "exit [CODE]"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(usage)), "help lacks '{usage}':\n{help}");
    }
    let one = s.command("help fault", REPLY).unwrap();
    assert!(one.starts_with("usage: fault null|stack|undef"), "{one}");
}

/// The firmware prints the layer table of the shared model crate: the
/// same definition the host tools use.
#[test]
fn layers_shows_the_shared_layer_table() {
    let mut s = boot(BootEl::El1);
    let out = s.command("layers", REPLY).unwrap();
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), xlic_model::LAYERS.len(), "{out}");
    for (row, l) in rows.iter().zip(xlic_model::LAYERS.iter()) {
        let words: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(words[1], l.name, "{row}");
        assert_eq!(words[3], format!("{}x{}", l.op.kernel(), l.op.kernel()), "{row}");
        assert_eq!(words[5], l.cin.to_string(), "{row}");
        assert_eq!(words[7], l.cout.to_string(), "{row}");
    }
}

#[test]
fn boots_from_el3_el2_and_el1_and_runs_at_el1() {
    for el in BootEl::ALL {
        let mut s = boot(el);
        let info = s.command("info", REPLY).unwrap();
        let want = format!("at EL1, entered at EL{}", el.number());
        assert!(info.contains(&want), "EL{}: info lacks '{want}':\n{info}", el.number());
        assert!(info.contains("mmu          on, I+D caches on"), "{info}");
        for region in ["null guard", "arena", "cosim win", "PL window", "high DDR"] {
            assert!(info.contains(region), "memory map lacks {region}:\n{info}");
        }
        s.send(b"exit\n").unwrap();
        assert_eq!(s.wait(REPLY).unwrap().code(), Some(0));
    }
}

#[test]
fn bad_input_gets_a_message_and_the_prompt_again() {
    let mut s = boot(BootEl::El1);
    assert_eq!(s.command("frob", REPLY).unwrap().trim(), "error: unknown command 'frob'; type 'help' for the list");
    assert_eq!(s.command("fault", REPLY).unwrap().trim(), "error: 'fault' needs an argument; usage: fault null|stack|undef [CORE]");
    assert_eq!(s.command("info please", REPLY).unwrap().trim(), "error: 'info': too many arguments; usage: info");
    assert_eq!(s.command("exit soon", REPLY).unwrap().trim(), "error: 'exit': cannot use 'soon'; usage: exit [CODE]");
    let long = "x".repeat(200);
    let reply = s.command(&long, REPLY).unwrap();
    assert!(reply.contains("error: line too long: at most 128 characters; nothing was run"), "{reply}");
    // An empty line just prompts again.
    assert_eq!(s.command("", REPLY).unwrap(), "");
    // And the console still works.
    assert!(s.command("info", REPLY).unwrap().contains("entered at EL1"));
}

#[test]
fn backspace_and_ctrl_c_edit_the_line() {
    let mut s = boot(BootEl::El1);
    // "hepp" + two backspaces + "lp" is "help".
    let out = s.command("hepp\x08\x08lp", REPLY).unwrap();
    assert!(out.contains("commands:"), "{out}");
    // Ctrl-C drops "info": only ^C and a new prompt appear.
    s.send(b"info\x03").unwrap();
    let cancelled = s.expect(PROMPT, REPLY).unwrap();
    assert!(cancelled.contains("^C"), "{cancelled}");
    assert!(!cancelled.contains("memory map"), "the cancelled line ran:\n{cancelled}");
}

/// Terminal input that used to go astray: a lone ESC ate the next key,
/// ESC [ then Enter lost the Enter, `exit 256` left with status 0.
#[test]
fn escape_keys_and_exit_codes_follow_the_rules() {
    let mut s = boot(BootEl::El1);
    s.send(b"\x1binfo\n").unwrap();
    let out = s.expect(PROMPT, REPLY).unwrap();
    assert!(out.contains("entered at EL1"), "ESC then `info`: {out}");
    s.send(b"info\x1b[\r").unwrap();
    let out = s.expect(PROMPT, REPLY).unwrap();
    assert!(out.contains("entered at EL1"), "Enter inside ESC [ submits: {out}");
    s.send(b"in\x1b[Dfo\x1bOA\n").unwrap();
    let out = s.expect(PROMPT, REPLY).unwrap();
    assert!(out.contains("entered at EL1"), "arrow keys (CSI and SS3) are ignored: {out}");
    assert_eq!(s.command("exit 256", REPLY).unwrap().trim(), "error: 'exit': cannot use '256'; usage: exit [CODE]");
    s.send(b"exit 255\n").unwrap();
    assert_eq!(s.wait(REPLY).unwrap().code(), Some(255));
}

#[test]
fn exit_code_reaches_the_host() {
    let mut s = boot(BootEl::El3);
    s.send(b"exit 7\n").unwrap();
    assert_eq!(s.wait(REPLY).unwrap().code(), Some(7));
}

fn fault_report(kind: &str) -> (String, Option<i32>) {
    let mut s = boot(BootEl::El3);
    s.send(format!("fault {kind}\n").as_bytes()).unwrap();
    let report = s.expect("*** system halted", REPLY).unwrap();
    (report, s.wait(REPLY).unwrap().code())
}

#[test]
fn deliberate_faults_print_a_readable_report_and_fail_the_run() {
    let (null, code) = fault_report("null");
    assert_eq!(code, Some(1));
    for line in ["*** CPU EXCEPTION on core 0 at EL1", "class   0x25 Data Abort, current EL", "FAR     0x0000000000000008", "cause   NULL pointer access"] {
        assert!(null.contains(line), "null report lacks '{line}':\n{null}");
    }
    let (stack, code) = fault_report("stack");
    assert_eq!(code, Some(1));
    assert!(stack.contains("cause   stack overflow: core 0 main stack ran into its guard page"), "{stack}");
    let (undef, code) = fault_report("undef");
    assert_eq!(code, Some(1));
    assert!(undef.contains("class   0x00 Unknown reason (undefined instruction)"), "{undef}");
}

/// The documented scripted use: `printf 'help\nexit 5\n' | cargo xtask run`.
fn xtask_run(input: &str) -> (String, String, Option<i32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["run", "--el", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code())
}

#[test]
fn xtask_run_takes_console_input_from_a_pipe() {
    let (out, err, code) = xtask_run("help\nexit 5\n");
    assert!(out.contains("commands:"), "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, Some(5), "stdout:\n{out}\nstderr:\n{err}");
    assert!(!err.contains("ALSA"), "QEMU noise was not filtered:\n{err}");
    // Input that ends without `exit` stops QEMU once the console is idle.
    let (out, err, code) = xtask_run("info\n");
    assert!(out.contains("entered at EL1"), "{out}");
    assert!(err.contains("idle at its prompt: stopping QEMU"), "{err}");
    assert_eq!(code, Some(0));
}

/// defmt frames leave on UART1, and the host decodes them with defmt-print;
/// the test build compiles in the default level (info), so debug lines
/// must be absent.
#[test]
fn defmt_log_on_uart1_is_decoded_at_the_built_level() {
    let raw = common::scratch("xlic-console", "defmt").join("uart1.raw");
    let mut q = Qemu::new(firmware_elf(), BootEl::El3);
    q.log_raw = Some(raw.clone());
    let mut s = Session::start(&q).unwrap();
    s.expect(PROMPT, BOOT).unwrap();
    s.command("frob", REPLY).unwrap();
    s.send(b"exit\n").unwrap();
    s.wait(REPLY).unwrap();
    let log = xtask::qemu::decode_log(&firmware_elf(), &raw).expect("defmt-print decodes the stream");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("INFO  boot: entered at EL3, running at EL1"), "{text}");
    assert!(text.contains("WARN  console: rejected frob"), "{text}");
    assert!(!text.contains("DEBUG"), "debug lines in an info build:\n{text}");
    std::fs::remove_file(&raw).ok();
    std::fs::remove_file(&log).ok();
}
