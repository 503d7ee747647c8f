//! Device and board facts, in one place: what each FPGA offers (DSP48E2,
//! RAMB18, UltraRAM, LUT, FF) and what each board's PS DDR gives. The
//! resource model checks an estimate against a [`Device`]; the cycle model
//! takes the DDR bandwidth and the clock from a [`Board`]; the design-space
//! explorer (`cargo xtask dse`) sweeps a board.
//!
//! Sources. The device counts are those of the Zynq UltraScale+ MPSoC data
//! sheet DS891 ("Zynq UltraScale+ MPSoC Data Sheet: Overview", Table 1 for
//! the EG devices, Table 2 for the EV devices; the K26 SOM's device in the
//! Kria K26 SOM data sheet DS987). Neither data sheet's table is in the
//! stored reference copy this project can search, so each count below was
//! checked against a second source that is, named beside it; where none
//! was found the comment says so. RAMB18 = 2 x the data sheet's 36 Kb
//! block RAMs; an UltraRAM block is 4K x 72 bits (UG573). FF = 2 x LUT in
//! every UltraScale+ CLB (8 LUTs, 16 flip-flops; UG574).
//!
//! The PS DDR figures are peak rates, bus width x transfer rate; the cycle
//! model applies its controller efficiency on top (perf.rs).

/// An FPGA's resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// The device, as Xilinx names it.
    pub name: &'static str,
    /// The part the board carries (package and speed grade).
    pub part: &'static str,
    pub dsp: usize,
    pub bram18: usize,
    /// UltraRAM blocks (4K x 72 bits each); 0 on devices without.
    pub uram: usize,
    pub lut: usize,
    pub ff: usize,
}

impl Device {
    /// The ZCU102's device. DS891 Table 1: 2520 DSP, 912 block RAMs (1824
    /// RAMB18), no UltraRAM, 274080 LUTs, 548160 FFs. Checked against a
    /// published ZU9EG target table (anulum sc-neurocore "Zynq UltraScale+
    /// target contract": 274080 / 548160 / 2520 / 912 / 0) and
    /// stanford-ppl/spatial's ZCU target (Regs 548160, BRAM 912, DSP 2520).
    pub const XCZU9EG: Device =
        Device { name: "XCZU9EG", part: "xczu9eg-ffvb1156-2-e", dsp: 2520, bram18: 1824, uram: 0, lut: 274_080, ff: 548_160 };
    /// The ZCU104's device. DS891 Table 2 (ZU7EV): 1728 DSP, 312 block RAMs
    /// (624 RAMB18), 96 UltraRAMs, 230400 LUTs, 460800 FFs. Partly checked:
    /// Xilinx/finn's platform table (src/finn/util/platforms.py, ZU7EV)
    /// gives 1728 DSP and rounded figures for the rest (230000 LUT, 610
    /// RAMB18, 92 URAM: usable-after-shell counts); the exact LUT, RAMB18
    /// and URAM counts were not found in a second source here.
    pub const XCZU7EV: Device =
        Device { name: "XCZU7EV", part: "xczu7ev-ffvc1156-2-e", dsp: 1728, bram18: 624, uram: 96, lut: 230_400, ff: 460_800 };
    /// The K26 SOM's device (the KV260's; a ZU5EV-class die). DS987: 1248
    /// DSP, 144 block RAMs (288 RAMB18, 5.1 Mb), 64 UltraRAMs, 117120 LUTs,
    /// 234240 FFs. Checked: raulest50/z-scan-propagation-kernel's KV260
    /// resource table (117120 LUT, 1248 DSP, 5184 Kb BRAM = 144 x 36 Kb,
    /// 64 URAM). The FF count is 2 x LUT, not checked separately.
    pub const XCK26: Device =
        Device { name: "XCK26", part: "xck26-sfvc784-2LV-c", dsp: 1248, bram18: 288, uram: 64, lut: 117_120, ff: 234_240 };
    /// The Ultra96-V2's device. DS891 Table 1 (ZU3EG): 360 DSP, 216 block
    /// RAMs (432 RAMB18), no UltraRAM, 70560 LUTs, 141120 FFs. Checked: the
    /// anulum ZU3EG target table (70560 / 141120 / 360 / 216 / 0). The part
    /// (-1 speed grade) is the one Avnet's Ultra96-V2 design targets
    /// (Avnet/Ultra96-PYNQ, Ultra96/sensors96b/sensors96b_v2.tcl).
    pub const XCZU3EG: Device =
        Device { name: "XCZU3EG", part: "xczu3eg-sbva484-1-i", dsp: 360, bram18: 432, uram: 0, lut: 70_560, ff: 141_120 };
}

impl Default for Device {
    fn default() -> Self {
        Self::XCZU9EG
    }
}

/// A board: its device, its PS DDR, and the clock the accelerator is
/// planned at (an assumption per speed grade, not a timing result).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Board {
    /// The name `cargo xtask dse --board` takes.
    pub key: &'static str,
    pub name: &'static str,
    pub device: Device,
    /// PS DDR bus width (bits) and transfer rate (transfers per second).
    pub ddr_bus_bits: usize,
    pub ddr_transfers_per_s: f64,
    /// What the DDR figure is, for people.
    pub ddr: &'static str,
    /// The accelerator clock planned for this board's speed grade.
    pub clock_hz: f64,
}

impl Board {
    /// ZCU102: PS DDR4 SODIMM on a 64-bit bus at DDR4-2133 (UG1182, "DDR4
    /// SODIMM Socket"; the board preset Vivado applies). Checked against a
    /// ZCU102 block design built from the preset (apply_board_preset;
    /// j-schacht/xilinx_zcu102_trustzone_demo,
    /// trustzone_demo/hardware/xilinx-zcu102-2023.2/config_bd.tcl):
    /// PSU__DDRC__SPEED_BIN DDR4_2133P, PSU__DDRC__FREQ_MHZ 1066.5,
    /// PSU__DDRC__BUS_WIDTH 64 Bit, UDIMM. 2133 MT/s x 8 bytes = 17.1 GB/s
    /// (the 19.2 GB/s used before is the controller's DDR4-2400 maximum,
    /// not this board's). 250 MHz is hls/script.tcl's 4 ns target on the -2
    /// part.
    pub const ZCU102: Board = Board {
        key: "zcu102",
        name: "ZCU102",
        device: Device::XCZU9EG,
        ddr_bus_bits: 64,
        ddr_transfers_per_s: 2133e6,
        ddr: "DDR4-2133 x 64 bits",
        clock_hz: 250e6,
    };
    /// ZCU104: "PS DDR4 64-bit Component" (Xilinx/PYNQ docs, ZCU104 board
    /// features) at DDR4-2133 (UG1267, "DDR4 Component Memory"). Checked
    /// against Xilinx's own ZCU104 platform
    /// (Xilinx/amd-yocto-hw-platforms,
    /// eval_board_examples/zcu104_pl_vcu_extensible/scripts/config_bd.tcl):
    /// PSU__DDRC__SPEED_BIN DDR4_2133P, PSU__DDRC__FREQ_MHZ 1066.5,
    /// PSU__DDRC__BUS_WIDTH 64 Bit, Components. -2 part: 250 MHz as the
    /// ZCU102.
    pub const ZCU104: Board = Board {
        key: "zcu104",
        name: "ZCU104",
        device: Device::XCZU7EV,
        ddr_bus_bits: 64,
        ddr_transfers_per_s: 2133e6,
        ddr: "DDR4-2133 x 64 bits",
        clock_hz: 250e6,
    };
    /// KV260: the K26's DDR4, 64 bits at 2400 MT/s (DS987; checked against a
    /// KV260 Vivado PS configuration, RodolpheThienard/ieee-posit-benchmark
    /// documentation/fpga/zynq_modification.typ: DDR4 2400P, 64-bit
    /// effective bus). The -2LV grade runs the fabric at 0.72 V, slower
    /// than -2: planned at 200 MHz (assumption).
    pub const KV260: Board = Board {
        key: "kv260",
        name: "KV260",
        device: Device::XCK26,
        ddr_bus_bits: 64,
        ddr_transfers_per_s: 2400e6,
        ddr: "DDR4-2400 x 64 bits",
        clock_hz: 200e6,
    };
    /// Ultra96-V2: LPDDR4 on a 32-bit bus ("512M x 32", 96Boards' Ultra96
    /// page), run at 1066 MT/s by Avnet's reference design (sensors96b_v2.tcl:
    /// PSU__DDRC__BUS_WIDTH 32 Bit, PSU__DDRC__SPEED_BIN LPDDR4_1066,
    /// PSU__ACT_DDR_FREQ_MHZ 533.33): 4.27 GB/s. -1 part: 200 MHz
    /// (assumption).
    pub const ULTRA96V2: Board = Board {
        key: "ultra96v2",
        name: "Ultra96-V2",
        device: Device::XCZU3EG,
        ddr_bus_bits: 32,
        ddr_transfers_per_s: 1066.67e6,
        ddr: "LPDDR4-1066 x 32 bits",
        clock_hz: 200e6,
    };

    pub const ALL: [Board; 4] = [Board::ZCU102, Board::ZCU104, Board::KV260, Board::ULTRA96V2];

    /// Peak PS DDR bandwidth, bytes per second (bus width x rate).
    pub const fn ddr_bytes_per_s(&self) -> f64 {
        self.ddr_bus_bits as f64 / 8.0 * self.ddr_transfers_per_s
    }

    /// Peak of one DDR controller port (XPI): 128 bits at the controller's
    /// clock, a quarter of the transfer rate (perf.rs, "Ports").
    pub const fn xpi_bytes_per_s(&self) -> f64 {
        16.0 * self.ddr_transfers_per_s / 4.0
    }

    pub fn by_key(key: &str) -> Option<Board> {
        Board::ALL.into_iter().find(|b| b.key.eq_ignore_ascii_case(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_consistent() {
        for b in Board::ALL {
            let d = b.device;
            assert_eq!(d.ff, 2 * d.lut, "{}: 16 FFs per 8 LUTs", d.name);
            assert!(d.bram18 % 2 == 0 && d.dsp > 0);
            assert!(d.part.starts_with(&d.name.to_ascii_lowercase()[..4]), "{}", d.part);
            assert_eq!(Board::by_key(b.key), Some(b));
        }
        // Only the EV devices and the K26 have UltraRAM.
        assert_eq!(Board::ALL.map(|b| b.device.uram > 0), [false, true, true, false]);
    }
}
