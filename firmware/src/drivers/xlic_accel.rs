//! The X-LIC accelerator (the HLS kernel `xlic_layer`): one layer per start,
//! driven through the register block generated from the kernel's interface
//! (`accel_regs`). No offset is written here.
//!
//! Where it lives: on the board in the PL at the start of the HPM0_FPD
//! window; under QEMU the co-simulation bridge serves the same block in a
//! reserved DDR window and says so with an info block beside it (magic,
//! live heartbeat; hls/cosim/xlic_cosim.h).
//!
//! On the board nothing touches the PL window before the PL checks pass
//! (`bsp::zcu102::pl`: configured, powered, clocked, out of
//! reset): an access to a PL that fails them can stall the bus for good.
//! Then the first access is a probe: a read of AP_CTRL whose bus error
//! (DECERR/SLVERR, a synchronous external abort) comes back as "no
//! accelerator answers", and a write and read-back of IER, which an empty
//! window (reading as zero) cannot keep. Register writes run inside an
//! SError guard: an error response to a write is reported, not lost.
use crate::arch::aarch64::probe::{self, Fault};
use crate::arch::aarch64::{cache, time};
use crate::bsp::zcu102::pl::{self, PlProblem, PlStatus};
use accel_regs::{cosim, status, XlicLayerRegisters, AP_CTRL, ARGUMENTS};
use xlic_model::layout::ConfigId;
use core::time::Duration;
use tock_registers::interfaces::{Readable, Writeable};

/// What answers at the register block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The IP in the PL (the board).
    Fabric,
    /// The HLS C-simulation beside QEMU, which runs `time_scale` times
    /// slower than the modelled IP at most and may inject `fault`.
    Cosim { time_scale: u32, fault: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccelError {
    /// No usable PL and no co-simulation bridge.
    NoAccelerator { problem: PlProblem },
    /// The PL checks passed but nothing answers in the window: a bus error
    /// (`fault`), or registers that read as zero and keep nothing written.
    NoResponse { addr: u64, fault: Option<Fault> },
    /// A register write was answered with an error (reported as SError).
    WriteFault { fault: Fault },
    /// The co-simulation info block is there but its heartbeat stopped.
    BridgeStopped,
    /// The PL is configured but the block at the window is not an idle IP.
    NotIdle { ap_ctrl: u32 },
    /// A register did not hold what was written.
    ReadBack { register: &'static str, wrote: u64, read: u64 },
    /// ap_done did not come within the limit.
    Timeout { waited_ms: u64, ap_ctrl: u32 },
    /// The IP finished, but was built for another configuration than this
    /// firmware (its status word's configuration differs): its output, if
    /// any, is not what the firmware planned.
    WrongConfiguration { ip: u32, firmware: u32 },
    /// The IP refused the layer's tile (its buffers cannot hold it) and
    /// wrote nothing.
    TileRefused { tile: [u32; 4] },
    /// The IP refused the layer's registers (beyond its limits) and wrote
    /// nothing.
    LayerRefused { op: u32, kernel: u32, stride: u32, cin: u32, cout: u32 },
    /// The IP finished without a status this firmware knows (0: a
    /// bitstream older than the status register, or another IP).
    UnknownStatus { status: u32 },
}

impl core::fmt::Display for AccelError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            AccelError::NoAccelerator { problem } => write!(
                f,
                "no accelerator: {problem} and no co-simulation bridge answers; \
                 on the board boot a BOOT.BIN with the bitstream (boot/README.md), under QEMU use `cargo xtask run` (co-simulation is on by default)"
            ),
            AccelError::NoResponse { addr, fault: Some(fault) } => write!(
                f,
                "no accelerator answers at 0x{addr:08x}: {fault}; check the IP's address in the block design (HPM0_FPD, boot/README.md)"
            ),
            AccelError::NoResponse { addr, fault: None } => write!(
                f,
                "no accelerator answers at 0x{addr:08x}: its registers read 0 and do not keep what is written; check the IP's address in the block design (HPM0_FPD, boot/README.md)"
            ),
            AccelError::WriteFault { fault } => write!(f, "a write to the accelerator's registers failed: {fault}"),
            AccelError::BridgeStopped => {
                write!(f, "the co-simulation bridge stopped (its heartbeat does not move); restart QEMU with `cargo xtask run`")
            }
            AccelError::NotIdle { ap_ctrl } => write!(
                f,
                "the accelerator is not idle (AP_CTRL 0x{ap_ctrl:02x}): a previous layer never finished; type 'reset' (or reload the bitstream on the board)"
            ),
            AccelError::ReadBack { register, wrote, read } => {
                write!(f, "register {register} read back 0x{read:x} after writing 0x{wrote:x}: the AXI-Lite path is broken")
            }
            AccelError::Timeout { waited_ms, ap_ctrl } => write!(
                f,
                "the accelerator did not finish within {waited_ms} ms (AP_CTRL 0x{ap_ctrl:02x}: {}); the output is incomplete, nothing was written; type 'reset'",
                if ap_ctrl & 4 != 0 { "idle" } else { "still busy" }
            ),
            AccelError::WrongConfiguration { ip, firmware } => write!(
                f,
                "the accelerator was built for another configuration ({}; status configuration 0x{ip:06x}) than this firmware \
                 ({}; 0x{firmware:06x}): its output was not used; build the bitstream and the firmware from the same \
                 hls/xlic_config.h",
                ConfigId(*ip),
                ConfigId(*firmware)
            ),
            AccelError::TileRefused { tile } => write!(
                f,
                "the accelerator refused the tile ({} band(s) of {} rows x {} columns, {} passes per unit): its buffers \
                 cannot hold it; nothing was written",
                tile[1], tile[0], tile[2], tile[3]
            ),
            AccelError::LayerRefused { op, kernel, stride, cin, cout } => write!(
                f,
                "the accelerator refused the layer (op {op}, kernel {kernel}, stride {stride}, {cin} -> {cout} channels): \
                 beyond the limits it was built with; nothing was written"
            ),
            AccelError::UnknownStatus { status } => write!(
                f,
                "the accelerator finished without a status this firmware knows (AP_RETURN 0x{status:08x}): the bitstream \
                 predates the status register or is not the X-LIC IP; its output was not used"
            ),
        }
    }
}

/// What the IP's status word (AP_RETURN after ap_done; hls/xlic_layer.h)
/// says about `job`, for a firmware built for configuration `expected`
/// (`HwLimits::config_id`). The configuration is checked first: a
/// refusal by an IP of another configuration is that mismatch's symptom.
pub fn check_status(word: u32, job: &LayerJob, expected: u32) -> Result<(), AccelError> {
    let (code, config) = (word & status::CODE_MASK, word >> status::CONFIG_SHIFT);
    let known = [status::DONE, status::TILE_REFUSED, status::LAYER_REFUSED].contains(&code);
    if !known {
        return Err(AccelError::UnknownStatus { status: word });
    }
    if config != expected {
        return Err(AccelError::WrongConfiguration { ip: config, firmware: expected });
    }
    match code {
        c if c == status::TILE_REFUSED => Err(AccelError::TileRefused { tile: job.tile }),
        c if c == status::LAYER_REFUSED => {
            Err(AccelError::LayerRefused { op: job.op, kernel: job.kernel, stride: job.stride, cin: job.cin, cout: job.cout })
        }
        _ => Ok(()),
    }
}

/// One start: the kernel's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerJob {
    pub fm_in: u64,
    pub weights: u64,
    pub params: u64,
    pub fm_out: u64,
    pub op: u32,
    pub kernel: u32,
    pub stride: u32,
    pub cin: u32,
    pub cout: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub out_h: u32,
    pub out_w: u32,
    /// The layer's tile (xlic_model::layout::TileChoice, from
    /// xlic_model::perf::plan): band rows, bands, tile columns, passes.
    pub tile: [u32; 4],
}

impl LayerJob {
    /// The values in the order of the generated `ARGUMENTS` table (the
    /// second input and output ports carry the same maps).
    pub fn values(&self) -> [u64; 19] {
        [
            self.fm_in,
            self.weights,
            self.params,
            self.fm_out,
            self.op as u64,
            self.kernel as u64,
            self.stride as u64,
            self.cin as u64,
            self.cout as u64,
            self.in_h as u64,
            self.in_w as u64,
            self.out_h as u64,
            self.out_w as u64,
            self.fm_in,
            self.fm_out,
            self.tile[0] as u64,
            self.tile[1] as u64,
            self.tile[2] as u64,
            self.tile[3] as u64,
        ]
    }
}

pub struct AccelDriver {
    base: usize,
    pub backend: Backend,
}

fn info_word(w: u32) -> u32 {
    // SAFETY: the info block lies in the co-simulation window, reserved
    // by the linker script and mapped as device memory; reads only.
    unsafe { core::ptr::read_volatile((cosim::INFO as usize + 4 * w as usize) as *const u32) }
}

impl AccelDriver {
    /// Find the accelerator ready for a start: as `find`, and on the board
    /// the IP must be idle.
    pub fn probe() -> Result<AccelDriver, AccelError> {
        let d = Self::find()?;
        if d.backend == Backend::Fabric {
            let ctrl = d.ap_ctrl();
            if ctrl & 4 == 0 {
                return Err(AccelError::NotIdle { ap_ctrl: ctrl });
            }
        }
        Ok(d)
    }

    /// Find the accelerator: the co-simulation bridge if its info block is
    /// there and alive, else the IP in the PL if the PL checks pass and the
    /// window answers (busy or not: `reset` needs it busy).
    pub fn find() -> Result<AccelDriver, AccelError> {
        if info_word(0) == cosim::MAGIC_LO && info_word(1) == cosim::MAGIC_HI && info_word(cosim::WORD_VERSION) == cosim::VERSION {
            let beat = info_word(cosim::WORD_HEARTBEAT);
            let deadline = time::Deadline::after(Duration::from_millis(200));
            while info_word(cosim::WORD_HEARTBEAT) == beat {
                if deadline.expired() {
                    return Err(AccelError::BridgeStopped);
                }
                crate::arch::aarch64::cpu::spin_hint();
            }
            let backend = Backend::Cosim { time_scale: info_word(cosim::WORD_TIME_SCALE).max(1), fault: info_word(cosim::WORD_FAULT) };
            return Ok(AccelDriver { base: cosim::REGS as usize, backend });
        }
        if let Some(problem) = PlStatus::read().problem() {
            return Err(AccelError::NoAccelerator { problem });
        }
        Self::probe_fabric(crate::bsp::zcu102::memory::pl_window().start)
    }

    /// Whether an HLS control block answers at `base`: AP_CTRL reads
    /// without a bus error, and IER (an interrupt enable, harmless with GIE
    /// off) keeps a value written to it. On the board only after the PL
    /// checks: `probe` does them; the console's `diag force` skips them on
    /// purpose.
    pub fn probe_fabric(base: u64) -> Result<AccelDriver, AccelError> {
        use core::mem::offset_of;
        let at = |off: usize| base + off as u64;
        let no_response = |fault| AccelError::NoResponse { addr: base, fault };
        probe::read_u32(at(offset_of!(XlicLayerRegisters, ap_ctrl))).map_err(|f| no_response(Some(f)))?;
        let ier = at(offset_of!(XlicLayerRegisters, ier));
        let old = probe::read_u32(ier).map_err(|f| no_response(Some(f)))?;
        let mark = accel_regs::IRQ::READY::SET.value;
        let kept = probe::serror_guarded(|| {
            // SAFETY: IER only enables interrupts, and GIE (off since reset,
            // never set by this firmware) keeps them from leaving the IP.
            unsafe { probe::write_u32(ier, mark) }?;
            let back = probe::read_u32(ier)?;
            // SAFETY: as above, restoring the value found.
            unsafe { probe::write_u32(ier, old) }?;
            Ok::<u32, Fault>(back)
        })
        .and_then(|r| r)
        .map_err(|f| no_response(Some(f)))?;
        if kept & 3 != mark {
            return Err(no_response(None));
        }
        Ok(AccelDriver { base: base as usize, backend: Backend::Fabric })
    }

    fn regs(&self) -> &XlicLayerRegisters {
        // SAFETY: `base` is the register block found by `probe` (PL window
        // or co-simulation window), mapped as device memory for the
        // firmware's lifetime.
        unsafe { &*(self.base as *const XlicLayerRegisters) }
    }

    pub fn base(&self) -> usize {
        self.base
    }

    /// AP_CTRL, read once (ap_done clears on read on the IP).
    pub fn ap_ctrl(&self) -> u32 {
        self.regs().ap_ctrl.get()
    }

    /// Every argument register by name with its offset and value.
    pub fn dump(&self, mut f: impl FnMut(&'static str, usize, u64)) {
        let r = self.regs();
        f("ap_ctrl", 0x00, r.ap_ctrl.get() as u64);
        f("gie", 0x04, r.gie.get() as u64);
        f("ier", 0x08, r.ier.get() as u64);
        f("isr", 0x0c, r.isr.get() as u64);
        f("ap_return", core::mem::offset_of!(XlicLayerRegisters, ap_return), r.ap_return.get() as u64);
        for (info, value) in ARGUMENTS.iter().zip(self.arguments()) {
            f(info.name, info.offset, value);
        }
    }

    /// Argument register values, in the order of `ARGUMENTS`.
    fn arguments(&self) -> [u64; 19] {
        let r = self.regs();
        [
            r.fm_in.get(),
            r.weights.get(),
            r.params.get(),
            r.fm_out.get(),
            r.op.get() as u64,
            r.kernel.get() as u64,
            r.stride.get() as u64,
            r.cin.get() as u64,
            r.cout.get() as u64,
            r.in_h.get() as u64,
            r.in_w.get() as u64,
            r.out_h.get() as u64,
            r.out_w.get() as u64,
            r.fm_in2.get(),
            r.fm_out2.get(),
            r.band_rows.get() as u64,
            r.bands.get() as u64,
            r.tile_cols.get() as u64,
            r.unit_passes.get() as u64,
        ]
    }

    /// Program `job` and start it. The caller has cleaned the input
    /// buffers from the data cache and invalidated the output (see
    /// `prepare_buffers`). With `read_back`, every register is read and
    /// compared before the start.
    pub fn start(&self, job: &LayerJob, read_back: bool) -> Result<(), AccelError> {
        let ctrl = self.ap_ctrl();
        if ctrl & 4 == 0 {
            return Err(AccelError::NotIdle { ap_ctrl: ctrl });
        }
        let r = self.regs();
        probe::serror_guarded(|| self.write_arguments(job)).map_err(|fault| AccelError::WriteFault { fault })?;
        if read_back {
            for ((info, w), read) in ARGUMENTS.iter().zip(job.values()).zip(self.arguments()) {
                if w != read {
                    return Err(AccelError::ReadBack { register: info.name, wrote: w, read });
                }
            }
        }
        // The argument writes reach the IP before the start (device
        // memory keeps their order; the barrier orders them with the
        // cache maintenance the caller did).
        aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
        probe::serror_guarded(|| r.ap_ctrl.write(AP_CTRL::AP_START::SET)).map_err(|fault| AccelError::WriteFault { fault })?;
        Ok(())
    }

    fn write_arguments(&self, job: &LayerJob) {
        let r = self.regs();
        r.fm_in.set(job.fm_in);
        r.weights.set(job.weights);
        r.params.set(job.params);
        r.fm_out.set(job.fm_out);
        r.op.set(job.op);
        r.kernel.set(job.kernel);
        r.stride.set(job.stride);
        r.cin.set(job.cin);
        r.cout.set(job.cout);
        r.in_h.set(job.in_h);
        r.in_w.set(job.in_w);
        r.out_h.set(job.out_h);
        r.out_w.set(job.out_w);
        // The kernel reads the input map on two ports and writes the output
        // on two (hls/xlic_layer.cpp): the same maps, twice.
        r.fm_in2.set(job.fm_in);
        r.fm_out2.set(job.fm_out);
        // The tile (the IP refuses one its buffers cannot hold).
        r.band_rows.set(job.tile[0]);
        r.bands.set(job.tile[1]);
        r.tile_cols.set(job.tile[2]);
        r.unit_passes.set(job.tile[3]);
    }

    /// The status word of the last layer (AP_RETURN; valid after ap_done).
    pub fn status(&self) -> u32 {
        self.regs().ap_return.get()
    }

    /// Poll until ap_done, reading AP_CTRL once per poll, then read the
    /// status the IP returned for `job`: the time from the call to done,
    /// or why the layer's output must not be used (a refusal or an IP of
    /// another configuration is an error, never a silent empty output).
    pub fn wait_done(&self, job: &LayerJob, limit: Duration) -> Result<Duration, AccelError> {
        let waited = self.wait_ap_done(limit)?;
        check_status(self.status(), job, accel_regs::HW_LIMITS.config_id())?;
        Ok(waited)
    }

    fn wait_ap_done(&self, limit: Duration) -> Result<Duration, AccelError> {
        let t = time::Instant::now();
        let deadline = time::Deadline::after(limit);
        loop {
            let ctrl = self.ap_ctrl();
            if ctrl & 2 != 0 {
                // The IP's writes are done before it raised ap_done; the
                // DSB makes the AP_CTRL read complete before any later load
                // (the caller's cache maintenance and its reads of the
                // output), so none of them can be satisfied early.
                aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
                return Ok(t.elapsed());
            }
            if deadline.expired() {
                return Err(AccelError::Timeout { waited_ms: t.elapsed().as_millis() as u64, ap_ctrl: self.ap_ctrl() });
            }
            crate::arch::aarch64::cpu::spin_hint();
        }
    }

    /// Bring a hung accelerator back to idle. Under co-simulation the
    /// bridge abandons the layer; on the board the IP has no reset
    /// register: pl_resetn0 (EMIO GPIO 95) is pulsed, which resets the PL
    /// design, and the IP must then read idle.
    pub fn reset(&self) -> Result<(), &'static str> {
        match self.backend {
            Backend::Cosim { .. } => {
                // SAFETY: the reset word of the bridge's info block, in the
                // reserved co-simulation window (device memory).
                unsafe { core::ptr::write_volatile((cosim::INFO as usize + 4 * cosim::WORD_RESET as usize) as *mut u32, 1) };
                let deadline = time::Deadline::after(Duration::from_secs(2));
                while info_word(cosim::WORD_RESET) != 0 {
                    if deadline.expired() {
                        return Err("the co-simulation bridge did not answer the reset request");
                    }
                    crate::arch::aarch64::cpu::spin_hint();
                }
                Ok(())
            }
            Backend::Fabric if self.ap_ctrl() & 4 != 0 => Ok(()),
            Backend::Fabric => {
                pl::pulse_reset();
                let at = self.base as u64 + core::mem::offset_of!(XlicLayerRegisters, ap_ctrl) as u64;
                match probe::read_u32(at) {
                    Ok(c) if c & 4 != 0 => Ok(()),
                    Ok(_) => Err("the IP is still busy after a PL reset (pl_resetn0): reload the bitstream (power-cycle the board)"),
                    Err(_) => Err("the IP stopped answering after a PL reset (pl_resetn0): reload the bitstream (power-cycle the board)"),
                }
            }
        }
    }
}

/// Before a start: the inputs the IP reads must be in DDR (clean), and no
/// dirty line of the output may later be evicted over what it writes
/// (invalidate; the output is cache-line aligned by the arena map).
pub fn prepare_buffers(inputs: &[&[u8]], output: &mut [u8]) {
    for b in inputs {
        cache::clean(b);
    }
    cache::invalidate(output);
}

/// After done: drop any line the CPU fetched speculatively meanwhile.
pub fn complete_buffers(output: &mut [u8]) {
    cache::invalidate(output);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver against a register block in RAM: every argument lands at
    /// the offset the generated table gives for its name, and the start
    /// bit is set last.
    #[test_case]
    fn start_writes_each_argument_at_its_generated_offset() {
        #[repr(C, align(8))]
        struct Block([u32; 64]);
        static mut BLOCK: Block = Block([0; 64]);
        let base = core::ptr::addr_of_mut!(BLOCK) as usize;
        let word = |off: usize| {
            // SAFETY: reads inside the test's own static block.
            unsafe { core::ptr::read_volatile((base + off) as *const u32) }
        };
        // SAFETY: as above; AP_CTRL says idle.
        unsafe { core::ptr::write_volatile(base as *mut u32, 4) };
        let d = AccelDriver { base, backend: Backend::Fabric };
        let job = LayerJob {
            fm_in: 0x1_2345_6780,
            weights: 0x2000_0040,
            params: 0x3000_0080,
            fm_out: 0x4000_0000,
            op: 1,
            kernel: 9,
            stride: 4,
            cin: 128,
            cout: 3,
            in_h: 76,
            in_w: 116,
            out_h: 304,
            out_w: 464,
            tile: [2, 2, 512, 3],
        };
        d.start(&job, true).unwrap();
        for (info, v) in ARGUMENTS.iter().zip(job.values()) {
            let got = if info.bits > 32 { word(info.offset) as u64 | (word(info.offset + 4) as u64) << 32 } else { word(info.offset) as u64 };
            assert_eq!(got, v, "{}", info.name);
        }
        assert_eq!(word(0) & 1, 1, "ap_start");
        // Not idle now (the block is plain memory: AP_CTRL reads back 1).
        assert!(matches!(d.start(&job, false), Err(AccelError::NotIdle { ap_ctrl: 1 })));
        // Done, with a status: wait_done reads AP_RETURN at its generated
        // offset and a refusal comes back as the refusal, at once (not as
        // a timeout, not as an empty output).
        let ret = core::mem::offset_of!(XlicLayerRegisters, ap_return);
        let own = accel_regs::HW_LIMITS.config_id() << status::CONFIG_SHIFT;
        let set = |off: usize, v: u32| {
            // SAFETY: writes inside the test's own static block.
            unsafe { core::ptr::write_volatile((base + off) as *mut u32, v) }
        };
        set(0, 2 | 4);
        set(ret, status::TILE_REFUSED | own);
        assert_eq!(d.wait_done(&job, Duration::from_secs(1)), Err(AccelError::TileRefused { tile: job.tile }));
        set(0, 2 | 4);
        set(ret, status::DONE | own);
        assert!(d.wait_done(&job, Duration::from_secs(1)).is_ok());
    }

    /// Every status word gets its own error, the configuration is checked
    /// before the code, and the messages say what to do.
    #[test_case]
    fn status_words_become_typed_errors() {
        let job = LayerJob { fm_in: 0, weights: 0, params: 0, fm_out: 0, op: 0, kernel: 5, stride: 2, cin: 128, cout: 128, in_h: 8, in_w: 8, out_h: 4, out_w: 4, tile: [4, 1, 64, 8] };
        let own = accel_regs::HW_LIMITS.config_id();
        let other = xlic_model::HwLimits { pox: accel_regs::HW_LIMITS.pox / 2, ..accel_regs::HW_LIMITS }.config_id();
        assert_ne!(own, other);
        let word = |code: u32, config: u32| code | config << status::CONFIG_SHIFT;
        assert_eq!(check_status(word(status::DONE, own), &job, own), Ok(()));
        assert_eq!(check_status(word(status::TILE_REFUSED, own), &job, own), Err(AccelError::TileRefused { tile: job.tile }));
        assert!(matches!(check_status(word(status::LAYER_REFUSED, own), &job, own), Err(AccelError::LayerRefused { kernel: 5, .. })));
        for code in [status::DONE, status::TILE_REFUSED, status::LAYER_REFUSED] {
            assert_eq!(check_status(word(code, other), &job, own), Err(AccelError::WrongConfiguration { ip: other, firmware: own }));
        }
        assert_eq!(check_status(0, &job, own), Err(AccelError::UnknownStatus { status: 0 }));
        struct Text([u8; 512], usize);
        impl core::fmt::Write for Text {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                let n = s.len().min(self.0.len() - self.1);
                self.0[self.1..self.1 + n].copy_from_slice(&s.as_bytes()[..n]);
                self.1 += n;
                Ok(())
            }
        }
        let mut t = Text([0; 512], 0);
        let _ = core::fmt::write(&mut t, format_args!("{}", AccelError::WrongConfiguration { ip: other, firmware: own }));
        let text = core::str::from_utf8(&t.0[..t.1]).unwrap();
        assert!(text.contains("built for another configuration") && text.contains("same hls/xlic_config.h"), "{text}");
    }

    /// QEMU's ZCU102 has nothing in the PL window and answers reads there
    /// with zeros (it never raises a bus error): the probe must still see
    /// that no IP is there, say so, and leave the system running. The PL
    /// checks are skipped here on purpose (they would stop before the probe).
    #[test_case]
    fn the_probe_of_an_empty_pl_window_is_an_error() {
        let base = crate::bsp::zcu102::memory::pl_window().start;
        match AccelDriver::probe_fabric(base) {
            Err(AccelError::NoResponse { addr, fault: None }) => assert_eq!(addr, base),
            Err(e) => panic!("unexpected error {e:?}"),
            Ok(_) => panic!("an empty window passed the probe"),
        }
    }

    /// A window whose access faults (here a real translation fault: the
    /// unmapped null guard) is an error carrying the fault, not a crash.
    #[test_case]
    fn a_faulting_window_is_an_error_with_the_fault() {
        let base = crate::bsp::zcu102::memory::null_guard().start + 0x1000;
        match AccelDriver::probe_fabric(base) {
            Err(AccelError::NoResponse { fault: Some(f), .. }) => assert_eq!(f.far, base),
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("a faulting window passed the probe"),
        }
    }

    /// A block that keeps what is written (RAM standing in for the IP)
    /// passes the probe, and IER is left as it was found.
    #[test_case]
    fn a_block_that_answers_passes_the_probe() {
        #[repr(C, align(8))]
        struct Block([u32; 64]);
        static mut IP: Block = Block([0; 64]);
        let base = core::ptr::addr_of_mut!(IP) as u64;
        let ier = base + core::mem::offset_of!(XlicLayerRegisters, ier) as u64;
        // SAFETY: the test's own block.
        unsafe { core::ptr::write_volatile(ier as *mut u32, 1) };
        let d = AccelDriver::probe_fabric(base).expect("probe");
        assert_eq!(d.base(), base as usize);
        // SAFETY: as above.
        assert_eq!(unsafe { core::ptr::read_volatile(ier as *const u32) }, 1);
    }
}
