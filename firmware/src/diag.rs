//! Bring-up checks for a board that does not behave (`diag` on the
//! console): each item says what the hardware reports and whether that is
//! right, and if not, what is wrong and what to do. Every register read
//! that could fault on a misconfigured board goes through `probe`, and the
//! PL window is touched only after the PL checks pass (or with `force`).
use crate::arch::aarch64::{boot_options, cpu, mmu, probe, semihosting, time};
use crate::bsp::zcu102::{self, pl::PlStatus};
use crate::drivers::sdhci::{self, CardInfo, SdError};
use crate::drivers::xlic_accel::{AccelDriver, AccelError, Backend};
use core::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// As it should be.
    Ok,
    /// Wrong: the text says what and what to do.
    Wrong,
    /// Could not be read (or means nothing here).
    Unknown,
}

impl Verdict {
    pub fn tag(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Wrong => "WRONG",
            Verdict::Unknown => "?",
        }
    }
}

pub type Text = heapless::String<320>;

/// One item of the report.
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub text: Text,
}

/// What the report needs from its caller.
pub struct Inputs {
    /// The mounted card, if the console has one (it is not re-initialised).
    pub card: Option<CardInfo>,
    /// Probe the PL window even when the PL checks fail. May hang a board
    /// whose PL is unclocked or isolated: for engineers who know better
    /// than the status registers.
    pub force_probe: bool,
}

macro_rules! text {
    ($($arg:tt)*) => {{
        let mut t = Text::new();
        let _ = write!(t, $($arg)*);
        t
    }};
}

fn check(each: &mut impl FnMut(&Check), name: &'static str, verdict: Verdict, text: Text) {
    each(&Check { name, verdict, text });
}

fn mhz(hz: u64) -> (u64, u64) {
    (hz / 1_000_000, (hz / 1000) % 1000)
}

/// Run every check, handing each to `each` as it is made.
pub fn run(inputs: &Inputs, mut each: impl FnMut(&Check)) {
    let each = &mut each;
    cpu_checks(each);
    console_checks(each);
    pl_checks(inputs, each);
    sd_checks(inputs, each);
}

fn cpu_checks(each: &mut impl FnMut(&Check)) {
    let (el, entered) = (cpu::current_el(), crate::entry_el());
    let (v, t) = match (el, entered) {
        (1, 3) => (Verdict::Ok, text!("running at EL1, entered at EL3 (as the FSBL hands over)")),
        (1, e) => (Verdict::Ok, text!("running at EL1, entered at EL{e}: CNTFRQ_EL0 and the per-core EL3 set-up were the loader's to do")),
        (r, e) => (Verdict::Wrong, text!("running at EL{r}, entered at EL{e}: the firmware drops to EL1 in boot.s")),
    };
    check(each, "exception level", v, t);

    let f = time::frequency();
    let t0 = time::ticks();
    let mut running = false;
    for _ in 0..100_000 {
        if time::ticks() != t0 {
            running = true;
            break;
        }
    }
    let (m, k) = mhz(f);
    let how = match time::programmed_at_boot() {
        Some(_) => "written at EL3 by boot.s from IOU_SCNTRS BASE_FREQUENCY_ID (or the ZCU102 value if that reads 0)",
        None => "set before entry",
    };
    let (v, t) = match (f, running) {
        (0, _) => (Verdict::Wrong, text!("CNTFRQ_EL0 is 0: every timeout expires at once; enter at EL3 (boot.s then sets it) or have the loader set it")),
        (_, false) => (Verdict::Wrong, text!("CNTFRQ_EL0 {m}.{k:03} MHz but the counter does not move: IOU_SCNTRS COUNTER_CONTROL EN is clear")),
        _ => (Verdict::Ok, text!("CNTFRQ_EL0 {m}.{k:03} MHz ({how}), counter running")),
    };
    check(each, "timer", v, t);

    let sctlr = mmu::sctlr();
    let (m_on, c_on, i_on) = (sctlr & 1 != 0, sctlr & (1 << 2) != 0, sctlr & (1 << 12) != 0);
    let v = if m_on && c_on && i_on { Verdict::Ok } else { Verdict::Wrong };
    check(
        each,
        "MMU and caches",
        v,
        text!("SCTLR_EL1 0x{sctlr:08x}: MMU {}, D-cache {}, I-cache {}", on(m_on), on(c_on), on(i_on)),
    );

    let (v, t) = match probe::cpuectlr() {
        Ok(x) if x & (1 << 6) != 0 => (Verdict::Ok, text!("CPUECTLR_EL1 0x{x:x}: SMPEN set, the core takes part in the cluster's coherency")),
        Ok(x) => (
            Verdict::Wrong,
            text!("CPUECTLR_EL1 0x{x:x}: SMPEN clear: caches are not kept coherent with the other cores and the ACP; the per-core init at EL3 sets it (Xilinx's boot.S does)"),
        ),
        Err(e) => (Verdict::Unknown, text!("CPUECTLR_EL1 not readable at EL1: {e}")),
    };
    check(each, "SMPEN", v, t);

    let (v, t) = match probe::cpuactlr() {
        Ok(x) if x & (1 << 44) != 0 => (Verdict::Ok, text!("CPUACTLR_EL1 0x{x:x}: ENDCCASCI set (erratum 855873); 835769 and 843419 are fixed at build time")),
        Ok(x) => (
            Verdict::Wrong,
            text!("CPUACTLR_EL1 0x{x:x}: ENDCCASCI clear: erratum 855873's workaround is off (the firmware's cache cleans use DC CIVAC, so its own DMA is safe); the per-core init at EL3 sets it"),
        ),
        Err(e) => (Verdict::Unknown, text!("CPUACTLR_EL1 not readable at EL1: {e}")),
    };
    check(each, "A53 errata", v, t);

    let v = if probe::serror_unmasked() { Verdict::Ok } else { Verdict::Wrong };
    check(each, "SError", v, text!("{}", if v == Verdict::Ok { "unmasked: a failed write is reported" } else { "masked: failed writes would go unseen" }));

    let opts = boot_options::get();
    let semi = if opts & boot_options::SKIP_SEMIHOSTING_PROBE != 0 {
        "probe skipped (a debugger may be attached)"
    } else if semihosting::is_available() {
        "available (QEMU or a debugger)"
    } else {
        "not available (probed at boot)"
    };
    check(each, "boot options", Verdict::Ok, text!("0x{opts:x} at 0x{:08x}; semihosting {semi}", boot_options::address()));
}

fn on(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn console_checks(each: &mut impl FnMut(&Check)) {
    let d = zcu102::console_uart().divisors();
    let (ref_hz, decoded) = zcu102::uart_ref_hz(0);
    let baud = d.actual_baud(ref_hz);
    let how = if zcu102::uart_kept_fsbl_setup(0) { "kept from the loader" } else { "programmed here" };
    let (rm, rk) = mhz(ref_hz as u64);
    let from = if decoded { "CRL_APB UART0_REF_CTRL" } else { "not decodable: the ZCU102 design's value" };
    let v = if baud.abs_diff(zcu102::CONSOLE_BAUD) * 50 <= zcu102::CONSOLE_BAUD { Verdict::Ok } else { Verdict::Wrong };
    check(
        each,
        "console UART",
        v,
        text!("UART0 {baud} baud 8N1 (CD {}, BDIV {}, {how}; reference clock {rm}.{rk:03} MHz, {from}); defmt log on UART1", d.cd, d.bdiv),
    );
}

fn pl_checks(inputs: &Inputs, each: &mut impl FnMut(&Check)) {
    let pl = PlStatus::read();
    let v = if pl.configured() { Verdict::Ok } else { Verdict::Wrong };
    let t = if pl.configured() {
        text!("PCAP_STATUS 0x{:08x}: PL_DONE, a bitstream is loaded", pl.pcap_status)
    } else {
        text!("PCAP_STATUS 0x{:08x}: PL_DONE clear: no bitstream; put it before the firmware in the .bif (boot/README.md)", pl.pcap_status)
    };
    check(each, "PL configured", v, t);

    let (v, t) = match pl.pwr_state {
        Some(p) if p & (1 << 23) != 0 => (Verdict::Ok, text!("PMU_GLOBAL PWR_STATE 0x{p:08x}: PL powered")),
        Some(p) => (Verdict::Wrong, text!("PMU_GLOBAL PWR_STATE 0x{p:08x}: the PL power island is off")),
        None => (Verdict::Unknown, text!("PMU_GLOBAL PWR_STATE not readable")),
    };
    check(each, "PL power", v, t);

    check(
        each,
        "PL isolation",
        Verdict::Unknown,
        text!(
            "not checked from the APU: the FPD-PL isolation is in PMU_LOCAL DOMAIN_ISO_CNTRL, which only the PMU reaches (UG1085, PMU Interconnect); PL power above and the accelerator probe below stand in for it"
        ),
    );

    let model_hz = accel_regs::PERF.clock_hz as u64;
    let (mm, mk) = mhz(model_hz);
    let (v, t) = match (pl.pl0.ctrl, pl.pl0.hz) {
        (None, _) => (Verdict::Unknown, text!("CRL_APB PL0_REF_CTRL not readable; the timeouts assume the model's {mm}.{mk:03} MHz")),
        (Some(c), _) if !pl.pl0.active => (Verdict::Wrong, text!("PL0_REF_CTRL 0x{c:08x}: pl_clk0 stopped (CLKACT clear)")),
        (Some(c), Some(hz)) => {
            let (m, k) = mhz(hz);
            let v = if hz <= model_hz * 101 / 100 { Verdict::Ok } else { Verdict::Wrong };
            let note = if v == Verdict::Ok { "" } else { "; faster than the HLS target clock: timing is not met" };
            (v, text!("PL0_REF_CTRL 0x{c:08x}: pl_clk0 {m}.{k:03} MHz from {} (HLS target {mm}.{mk:03} MHz){note}", pl.pl0.source))
        }
        (Some(c), None) => (Verdict::Ok, text!("PL0_REF_CTRL 0x{c:08x}: pl_clk0 running from {}, rate not decoded", pl.pl0.source)),
    };
    check(each, "PL clock", v, t);

    let (v, t) = match zcu102::pl::hpm0_timeout_response() {
        Some(r) if r & zcu102::pl::ATB_RESP_EN_HPM0_FPD != 0 => {
            (Verdict::Ok, text!("FPD_SLCR ATB_RESP_EN 0x{r:08x}: the AXI timeout block answers for M_AXI_HPM0_FPD (set by the loader)"))
        }
        Some(r) => (
            Verdict::Unknown,
            text!("FPD_SLCR ATB_RESP_EN 0x{r:08x}: no AXI timeout response on M_AXI_HPM0_FPD; a PL that never answers stalls the core (the firmware leaves the block as the loader set it: boot/README.md)"),
        ),
        None => (Verdict::Unknown, text!("FPD_SLCR ATB_RESP_EN not readable")),
    };
    check(each, "PL timeout", v, t);

    let (v, t) = match pl.resetn {
        Some(r) => {
            let regs = text!("GPIO bank 5 bit 31: DIRM_5 0x{:08x}, OEN_5 0x{:08x}, DATA_5 0x{:08x} (the output latch; an EMIO pin's level cannot be read back)", r.dirm, r.oen, r.data);
            match (r.driven(), r.latch_high()) {
                (true, true) => (Verdict::Ok, text!("pl_resetn0 (EMIO GPIO 95) driven high: {regs}")),
                (true, false) => (Verdict::Wrong, text!("pl_resetn0 (EMIO GPIO 95) driven low, the PL is held in reset ('reset' pulses and releases it): {regs}")),
                (false, _) => (Verdict::Ok, text!("pl_resetn0 (EMIO GPIO 95) not an enabled output of the PS: the PL design's own reset applies: {regs}")),
            }
        }
        None => (Verdict::Unknown, text!("GPIO bank 5 (DIRM_5, OEN_5, DATA_5) not readable")),
    };
    check(each, "PL reset", v, t);

    let (v, t) = accelerator_check(inputs);
    check(each, "accelerator", v, t);
}

fn accelerator_check(inputs: &Inputs) -> (Verdict, Text) {
    let found = match AccelDriver::find() {
        Err(AccelError::NoAccelerator { .. }) if inputs.force_probe => AccelDriver::probe_fabric(zcu102::memory::pl_window().start),
        r => r,
    };
    match found {
        Ok(a) => {
            let c = a.ap_ctrl();
            let state = if c & 4 != 0 { "idle" } else { "busy: 'reset' frees it" };
            let v = if c & 4 != 0 { Verdict::Ok } else { Verdict::Wrong };
            match a.backend {
                Backend::Fabric => (v, text!("xlic_layer answers at 0x{:08x}, AP_CTRL 0x{c:02x} ({state})", a.base())),
                Backend::Cosim { time_scale, .. } => {
                    (v, text!("the co-simulation bridge serves xlic_layer at 0x{:08x} (at most {time_scale}x slower than modelled), AP_CTRL 0x{c:02x} ({state})", a.base()))
                }
            }
        }
        Err(AccelError::NoAccelerator { problem }) => (Verdict::Wrong, text!("not probed: {problem} ('diag force' probes anyway)")),
        Err(e) => (Verdict::Wrong, text!("{e}")),
    }
}

fn sd_checks(inputs: &Inputs, each: &mut impl FnMut(&Check)) {
    let mut sd = zcu102::sd_card();
    let h = sd.host_info();
    let caps = h.capabilities;
    let (bm, bk) = mhz(h.base_clock_hz as u64);
    let mut features = heapless::String::<64>::new();
    for (bit, name) in [(24, "3.3 V"), (25, "3.0 V"), (26, "1.8 V"), (22, "SDMA"), (19, "ADMA2"), (21, "high speed")] {
        if caps & (1 << bit) != 0 {
            let _ = write!(features, "{}{name}", if features.is_empty() { "" } else { ", " });
        }
    }
    let v = if h.version & 0xff >= 2 { Verdict::Ok } else { Verdict::Wrong };
    check(
        each,
        "SD host",
        v,
        text!(
            "SD1: SD Host Controller {} (version 0x{:04x}), capabilities 0x{caps:08x} 0x{:08x}: base clock {bm}.{bk:03} MHz{}; {features}",
            h.spec_text(),
            h.version,
            h.capabilities1,
            if sdhci::base_clock_hz(caps, 0) == 0 { " (reported 0: the slot's reference)" } else { "" },
        ),
    );

    let (card, how) = match inputs.card {
        Some(c) => (Ok(c), "mounted"),
        None => (sd.init(), "initialised for this report"),
    };
    match card {
        Ok(c) => {
            let v = if c.bus_width == 4 { Verdict::Ok } else { Verdict::Wrong };
            check(
                each,
                "SD card",
                v,
                text!(
                    "{how}: {} MiB {}, {}-bit bus at {} kHz, {}, {} signalling{}{}",
                    c.blocks / 2048,
                    if c.high_capacity { "SDHC/SDXC" } else { "SDSC" },
                    c.bus_width,
                    c.clock_khz,
                    c.speed.name(),
                    c.signalling.name(),
                    if c.found_at_1v8 { " (found at 1.8 V: no power cycle reached it)" } else { "" },
                    if c.attempts > 1 { "; needed a second power cycle" } else { "" },
                ),
            );
            check(
                each,
                "SD OCR",
                Verdict::Ok,
                text!("0x{:08x}: {}, voltage window 0x{:03x}{}", c.ocr.0, if c.ocr.high_capacity() { "CCS (block addressing)" } else { "byte addressing" }, c.ocr.window(), if c.ocr.s18a() { ", S18A" } else { "" }),
            );
            check(each, "SD CID", Verdict::Ok, text!("{}", c.cid));
            check(
                each,
                "SD CSD",
                Verdict::Ok,
                text!("version {}, {} blocks, TRAN_SPEED {} kHz, command classes 0x{:03x}", c.csd.version(), c.csd.blocks(), c.csd.max_transfer_khz(), c.csd.command_classes()),
            );
            check(
                each,
                "SD SCR",
                Verdict::Ok,
                text!("{:02x?}: SD spec {}, {}", c.scr.0, c.scr.version_text(), if c.scr.four_bit() { "1- and 4-bit bus" } else { "1-bit bus only" }),
            );
        }
        Err(SdError::NoCard) => check(each, "SD card", Verdict::Wrong, text!("no card in the slot (SD1): insert a FAT32 card (boot/README.md)")),
        Err(e) => check(each, "SD card", Verdict::Wrong, text!("{e} ({how})")),
    }
}

/// Print the last SD initialisation's steps with their times.
pub fn write_sd_trace(out: &mut impl Write, indent: &str) {
    let printed = sdhci::last_init_trace(|t| {
        if t.events().is_empty() {
            let _ = writeln!(out, "{indent}(no SD initialisation yet)");
        } else {
            let _ = t.write(out, indent);
        }
    });
    if printed.is_none() {
        let _ = writeln!(out, "{indent}(the trace is in use)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under QEMU (no PL, no card on SD1 in unit tests): the CPU checks pass,
    /// the PL is reported as not configured and not probed, the empty slot
    /// is named, and nothing faults on the way.
    #[test_case]
    fn the_report_covers_every_item_and_judges_them() {
        let mut seen: heapless::Vec<(&'static str, Verdict), 32> = heapless::Vec::new();
        let inputs = Inputs { card: None, force_probe: false };
        run(&inputs, |c| {
            seen.push((c.name, c.verdict)).unwrap();
        });
        let verdict = |name: &str| seen.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).unwrap_or_else(|| panic!("no '{name}' item"));
        for ok in ["exception level", "timer", "MMU and caches", "SError", "console UART", "SD host"] {
            assert_eq!(verdict(ok), Verdict::Ok, "{ok}");
        }
        for wrong in ["PL configured", "accelerator", "SD card"] {
            assert_eq!(verdict(wrong), Verdict::Wrong, "{wrong}");
        }
        for any in ["SMPEN", "A53 errata", "boot options", "PL power", "PL isolation", "PL clock", "PL timeout", "PL reset"] {
            verdict(any);
        }
    }

    /// `force` probes the empty PL window: the answer is an error, not a hang.
    #[test_case]
    fn a_forced_probe_of_the_empty_window_reports_no_answer() {
        let inputs = Inputs { card: None, force_probe: true };
        let mut accel = Text::new();
        run(&inputs, |c| {
            if c.name == "accelerator" {
                accel = c.text.clone();
            }
        });
        assert!(accel.starts_with("no accelerator answers at 0xa0000000"), "{accel}");
    }
}
