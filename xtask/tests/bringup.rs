//! Bring-up on the console under QEMU: `diag` reports every check with a
//! verdict and the SD card's initialisation steps, a forced probe of the
//! empty PL window is an error with the prompt back, and `card` says how the
//! bus runs. (The firmware's own tests cover the drivers below these.)
use std::path::{Path, PathBuf};
use std::time::Duration;
use xtask::cosim::CosimOptions;
use xtask::qemu::{BootEl, Qemu, Session, PROMPT};

mod common;

const REPLY: Duration = Duration::from_secs(60);

fn card_image(name: &str) -> PathBuf {
    let img = common::scratch("xlic-bringup", "cards").join(name);
    xlic_cardimg::build(&img, &[("HELLO.TXT".to_string(), b"hello\n".to_vec())], xlic_cardimg::DEFAULT_SIZE_MIB).unwrap();
    img
}

fn boot(el: BootEl, card: Option<&Path>, cosim: Option<CosimOptions>) -> Session {
    let mut q = Qemu::new(xtask::firmware::elf_for_tests(), el);
    q.card = card.map(Path::to_path_buf);
    q.cosim = cosim;
    let mut s = Session::start(&q).unwrap();
    s.expect(PROMPT, REPLY).unwrap();
    s
}

fn line<'a>(text: &'a str, item: &str) -> &'a str {
    text.lines().find(|l| l.get(8..8 + item.len()) == Some(item)).unwrap_or_else(|| panic!("no '{item}' line in:\n{text}"))
}

fn verdict<'a>(text: &'a str, item: &str) -> &'a str {
    line(text, item).split_whitespace().next().unwrap()
}

#[test]
fn diag_judges_every_item_and_shows_the_sd_power_up() {
    let img = card_image("diag.img");
    let mut s = boot(BootEl::El3, Some(&img), None);
    let out = s.command("diag", REPLY).unwrap();
    for ok in ["exception level", "timer", "MMU and caches", "SError", "console UART", "SD host", "SD card", "SD OCR", "SD CID", "SD CSD", "SD SCR"] {
        assert_eq!(verdict(&out, ok), "ok", "{}", line(&out, ok));
    }
    // QEMU has no PL: said so, and the window is not touched.
    assert_eq!(verdict(&out, "PL configured"), "WRONG");
    assert!(line(&out, "accelerator").contains("not probed: the PL is not configured (PCAP_STATUS 0x00000000, PL_DONE clear)"), "{out}");
    assert!(line(&out, "exception level").contains("entered at EL3"), "{out}");
    assert!(line(&out, "SD host").contains("SD Host Controller 3.00 (version 0x2402)"), "{out}");
    assert!(line(&out, "SD card").contains("4-bit bus at 50000 kHz, high speed, 3.3 V signalling"), "{out}");
    assert!(line(&out, "SD CID").contains("product \"QEMU!\""), "{out}");
    // The power-up of the card, step by step with its times.
    for step in ["bus power off", "waited >= 10.000 ms: bus power off", "bus power on at 3.3 V", "SD clock on at 400 kHz", "CMD0 arg", "ACMD41 arg", "bus speed mode: high speed"] {
        assert!(out.contains(step), "no '{step}' in the trace:\n{out}");
    }
    assert!(out.trim_end().ends_with("items WRONG"), "{out}");

    // Forced, the probe of the empty window is an error, and the console lives on.
    let forced = s.command("diag force", REPLY).unwrap();
    assert!(line(&forced, "accelerator").contains("no accelerator answers at 0xa0000000"), "{forced}");
    assert!(s.command("info", REPLY).unwrap().contains("entered at EL3"));

    let card = s.command("card", REPLY).unwrap();
    assert!(card.contains("OCR 0x80ffff00, 4-bit bus at 50000 kHz, high speed, 3.3 V signalling"), "{card}");
    s.send(b"exit\n").unwrap();
    assert_eq!(s.wait(REPLY).unwrap().code(), Some(0));
    let _ = std::fs::remove_file(img);
}

/// Entered at EL1 (a loader that dropped already): still reported, and the
/// empty slot is named.
#[test]
fn diag_at_el1_without_a_card() {
    let mut s = boot(BootEl::El1, None, None);
    let out = s.command("diag", REPLY).unwrap();
    assert!(line(&out, "exception level").contains("entered at EL1"), "{out}");
    assert_eq!(verdict(&out, "SD card"), "WRONG");
    assert!(line(&out, "SD card").contains("no card in the slot"), "{out}");
    s.send(b"exit\n").unwrap();
    s.wait(REPLY).unwrap();
}

#[test]
fn diag_sees_the_cosimulated_accelerator() {
    let mut s = boot(BootEl::El3, None, Some(CosimOptions::default()));
    let out = s.command("diag", REPLY).unwrap();
    assert_eq!(verdict(&out, "accelerator"), "ok", "{out}");
    assert!(line(&out, "accelerator").contains("the co-simulation bridge serves xlic_layer"), "{out}");
    s.send(b"exit\n").unwrap();
    s.wait(REPLY).unwrap();
}
