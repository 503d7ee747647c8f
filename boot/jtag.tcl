# Load X-LIC onto a ZCU102 over JTAG with xsdb (Vivado/Vitis, or XSCT's xsdb):
#
#   xsdb boot/jtag.tcl -bit DESIGN.bit (-fsbl FSBL.elf | -psu-init psu_init.tcl)
#                      [-pmufw PMUFW.elf] [-elf FIRMWARE.elf] [-url tcp:HOST:3121]
#
# or `cargo xtask jtag ...`, which builds the firmware and runs this. The
# order is the one Vitis generates for a ZynqMP application's system debug
# script (rst -system, wait, the bitstream on the device's JTAG target,
# then the FSBL run to XFsbl_Exit), with the PMU firmware loaded as Xilinx's
# meta-xilinx docs (README.booting.zynqmp.md) do, plus what a JTAG boot
# skips that an SD boot does:
#
#   1. connect; switch this power cycle to JTAG boot mode the way Xilinx's
#      Kria scripts do (kria-vitis-platforms som_bootmode*.tcl: CSU
#      MULTI_BOOT 0, CRL_APB BOOT_MODE_USER 0x0100 = use_alt with
#      alt_boot_mode 0, JTAG; UG1087: the register is reset only by POR),
#      then `rst -system`: in SD mode the BootROM would otherwise boot the
#      card's BOOT.BIN while this script loads, and the FSBL would take
#      the SD path instead of stopping at XFsbl_Exit; the mode is checked
#      after the reset;
#   2. the bitstream on the device's level-0 JTAG target (PS TAP), right
#      after the reset as Vitis does;
#   3. PMU firmware on the PMU MicroBlaze (the FSBL needs it for the PL's
#      power-up request): JTAG security gates for DAP, PL TAP and PMU
#      opened (`mask_write 0xFFCA0038 0x1C0 0x1C0`), the running PMU ROM
#      stopped (`catch {stop}; after 1000`), then `dow`;
#   4. PS set-up on A53 #0: the FSBL, run until XFsbl_Exit (it runs psu_init
#      and stops there in JTAG boot mode), or psu_init.tcl's psu_init;
#   5. what the FSBL does only when it loads a PL partition from a boot image:
#      the PL power-up request to the PMU (which removes the PS-PL isolation)
#      and pl_resetn0 (EMIO GPIO 95) pulsed and released;
#   6. A53 #0 reset to EL3, the firmware ELF downloaded, the image header's
#      boot options set to skip the semihosting probe (a halting debugger
#      would stop the core at its `hlt`), and `con`.
#
# The JTAG boot mode lasts until the board is power-cycled (a `reboot` from
# the console boots JTAG mode again, and waits for this script).
# Watch UART0 (console) and UART1 (defmt log): boot/README.md, "The UART".
# Exit status: 0 running, 2 an input is missing, 1 a step failed.

set usage "usage: xsdb boot/jtag.tcl -bit DESIGN.bit (-fsbl FSBL.elf | -psu-init psu_init.tcl) \[-pmufw PMUFW.elf\] \[-elf FIRMWARE.elf\] \[-url tcp:HOST:3121\]"
set opt(-url) "tcp:127.0.0.1:3121"
set opt(-bit) ""
set opt(-fsbl) ""
set opt(-psu-init) ""
set opt(-pmufw) ""
set opt(-elf) [file normalize [file join [file dirname [info script]] .. firmware target aarch64-unknown-none release xlic-firmware]]
for {set i 0} {$i < [llength $argv]} {incr i} {
    set key [lindex $argv $i]
    if {![info exists opt($key)] || $i + 1 >= [llength $argv]} {
        puts stderr "jtag.tcl: unknown or incomplete argument '$key'\n$usage"
        exit 2
    }
    incr i
    set opt($key) [lindex $argv $i]
}

# Name every missing input at once, then stop (nothing touched yet).
set missing {}
if {$opt(-bit) eq ""} {
    lappend missing "bitstream (-bit): not given (Vivado: write_bitstream of the design with the xlic_layer IP)"
} elseif {![file exists $opt(-bit)]} {
    lappend missing "bitstream (-bit): $opt(-bit) does not exist"
}
if {$opt(-fsbl) eq "" && $opt(-psu-init) eq ""} {
    lappend missing "PS set-up: give -fsbl FSBL.elf (Vitis zynqmp_fsbl) or -psu-init psu_init.tcl (from the XSA)"
}
foreach key {-fsbl -psu-init -pmufw -elf} {
    if {$opt($key) ne "" && ![file exists $opt($key)]} {
        lappend missing "$key: $opt($key) does not exist"
    }
}
if {[llength $missing] > 0} {
    puts stderr "jtag.tcl: cannot load; missing:"
    foreach m $missing { puts stderr "  - $m" }
    exit 2
}

# The image header of boot.s: magic "XLICBOOT" at the load address + 8,
# boot options at + 0x10 (firmware/src/arch/aarch64/boot_options.rs).
set LOAD_ADDRESS 0x00100000
set MAGIC_LO 0x43494c58
set MAGIC_HI 0x544f4f42
set BOOT_OPTIONS [expr {$LOAD_ADDRESS + 0x10}]
set SKIP_SEMIHOSTING_PROBE 1

proc step {text} { puts "jtag.tcl: $text" }

proc fail {text} {
    puts stderr "jtag.tcl: $text"
    exit 1
}

# Boot mode registers (UG1087): CRL_APB BOOT_MODE_USER (boot_mode 3:0 as the
# BootROM will see it, use_alt 8, alt_boot_mode 15:12) and CSU MULTI_BOOT.
set BOOT_MODE_USER 0xff5e0200
set CSU_MULTI_BOOT 0xffca0010
set JTAG_BOOT_ALT 0x0100
proc boot_mode {} { return [expr {[mrd -force -value $::BOOT_MODE_USER] & 0xf}] }

# Register writes of psu_init.c's psu_ps_pl_isolation_removal_data and
# psu_ps_pl_reset_config_data (UG1087: PMU_GLOBAL, GPIO), for the FSBL
# path, where no psu_init.tcl is at hand.
proc pl_power_up_and_release {} {
    # PL power-up request to the PMU firmware: REQ_PWRUP_INT_EN and _TRIG bit
    # 23, then wait until REQ_PWRUP_STATUS bit 23 clears.
    mwr -force 0xffd80118 0x00800000
    mwr -force 0xffd80120 0x00800000
    for {set n 0} {$n < 100} {incr n} {
        if {([mrd -force -value 0xffd80110] & 0x00800000) == 0} { break }
        after 10
    }
    if {$n == 100} { fail "the PMU did not power up the PL (is the PMU firmware running? give -pmufw)" }
    # pl_resetn0 = EMIO GPIO 95 = bank 5 bit 31. The DATA_5 latch goes high
    # (MASK_DATA_5_MSW: only pin 31 unmasked) before the pin becomes an
    # enabled output, so turning the driver on cannot pull the reset low;
    # then one low pulse (firmware: bsp/zcu102/pl.rs does the same).
    mwr -force 0xff0a002c 0x7fff8000
    mwr -force 0xff0a0344 [expr {[mrd -force -value 0xff0a0344] | 0x80000000}]
    mwr -force 0xff0a0348 [expr {[mrd -force -value 0xff0a0348] | 0x80000000}]
    mwr -force 0xff0a002c 0x7fff0000
    after 1
    mwr -force 0xff0a002c 0x7fff8000
}

if {[catch {
    step "connecting to $opt(-url)"
    connect -url $opt(-url)
    targets -set -nocase -filter {name =~ "*PSU*"}
    set pins [boot_mode]
    step "boot mode [format 0x%x $pins] (0x0 JTAG, 0xe SD1); JTAG until the next power cycle (BOOT_MODE_USER [format 0x%04x $JTAG_BOOT_ALT])"
    mwr -force $CSU_MULTI_BOOT 0x0
    mwr -force $BOOT_MODE_USER $JTAG_BOOT_ALT
    step "system reset"
    rst -system
    after 3000
    targets -set -nocase -filter {name =~ "*PSU*"}
    set mode [boot_mode]
    if {$mode != 0} {
        fail "the boot mode is still [format 0x%x $mode] after the reset (BOOT_MODE_USER did not switch to JTAG): set SW6 to JTAG (all ON), power-cycle and run again"
    }

    step "bitstream: $opt(-bit)"
    targets -set -nocase -filter {name =~ "*PS TAP*"}
    fpga -file $opt(-bit)

    if {$opt(-pmufw) ne ""} {
        step "PMU firmware: $opt(-pmufw)"
        # Open the JTAG security gates for DAP, PL TAP and PMU (CSU JTAG_SEC
        # bits 8:6) so the PMU MicroBlaze shows up.
        targets -set -nocase -filter {name =~ "*PSU*"}
        mask_write 0xffca0038 0x1c0 0x1c0
        targets -set -nocase -filter {name =~ "*MicroBlaze PMU*"}
        # The PMU ROM is running: stop it (it may already be stopped).
        catch {stop}
        after 1000
        dow $opt(-pmufw)
        con
        after 500
    }

    targets -set -nocase -filter {name =~ "*A53*#0"}
    rst -processor -clear-registers
    configparams force-mem-access 1
    if {$opt(-fsbl) ne ""} {
        step "FSBL: $opt(-fsbl) (until XFsbl_Exit)"
        dow $opt(-fsbl)
        set bp [bpadd -addr &XFsbl_Exit]
        con -block -timeout 60
        bpremove $bp
    } else {
        step "psu_init: $opt(-psu-init)"
        source $opt(-psu-init)
        psu_init
        after 1000
    }

    if {[llength [info procs psu_ps_pl_isolation_removal]] > 0} {
        step "PL power-up and reset release (psu_init.tcl)"
        psu_ps_pl_isolation_removal
        after 1000
        psu_ps_pl_reset_config
    } else {
        step "PL power-up and reset release"
        pl_power_up_and_release
    }
    # PCAP_STATUS.PL_DONE (bit 3): the firmware checks it too.
    if {([mrd -force -value 0xffca3010] & 0x8) == 0} { fail "PCAP_STATUS shows PL_DONE clear after programming the bitstream" }

    step "firmware: $opt(-elf) on A53 #0 at EL3"
    targets -set -nocase -filter {name =~ "*A53*#0"}
    rst -processor -clear-registers
    dow $opt(-elf)
    set magic [mrd -force -value [expr {$LOAD_ADDRESS + 8}] 2]
    if {[lindex $magic 0] != $MAGIC_LO || [lindex $magic 1] != $MAGIC_HI} {
        fail "no X-LIC image header at [format 0x%08x [expr {$LOAD_ADDRESS + 8}]]: is $opt(-elf) the X-LIC firmware?"
    }
    mwr -force $BOOT_OPTIONS $SKIP_SEMIHOSTING_PROBE
    configparams force-mem-access 0
    con
    step "running; console on the ZCU102's first USB-UART port (UART0), defmt log on the second (UART1), 115200 8N1"
} err]} {
    fail "$err"
}
