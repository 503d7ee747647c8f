# Vivado HLS 2019.2: synthesize the X-LIC layer kernel for its board and
# export it as an IP. Run from this folder:  vivado_hls -f script.tcl
# (C-simulation needs no Xilinx tools: `cargo xtask csim`; after this
# script, `cargo xtask hls-report hls/xlic_hls/solution1` compares the
# synthesis report with the model.)
open_project -reset xlic_hls
set_top xlic_layer
add_files xlic_layer.cpp
add_files xlic_layer.h
add_files xlic_config.h
# The testbench reads the vector files `cargo xtask csim` writes
# (target/xlic/csim/*.tv); pass them with -argv to csim_design.
# The testbench uses <chrono> (C++11); 2019.2's csim compiler (gcc 4.6)
# defaults to C++98. The kernel itself is C++98.
add_files -tb tb/xlic_tb.cpp -cflags "-std=c++0x"

# The part and the clock come from xlic_config.h (XLIC_PART,
# XLIC_CLOCK_PERIOD_PS: `cargo xtask dse --write` sets them per board).
set cfg [open xlic_config.h]
set cfg_text [read $cfg]
close $cfg
regexp {#define XLIC_PART "([^"]+)"} $cfg_text -> xlic_part
regexp {#define XLIC_CLOCK_PERIOD_PS ([0-9]+)} $cfg_text -> xlic_period_ps

open_solution -reset solution1
set_part $xlic_part
# 12.5 % of the period reserved for routing.
create_clock -period [expr {$xlic_period_ps / 1000.0}] -name default
set_clock_uncertainty 12.5%
config_interface -m_axi_addr64
config_compile -name_max_length 80

csynth_design
# A three-part version: 2019.2's export stamps a core revision from the
# date that overflows after 2021 unless the version has three fields or the
# tool has Xilinx's AR 76960 patch (hls/README.md).
export_design -format ip_catalog -description "X-LIC bls2017 layer accelerator" -vendor "x-lic" -library "hls" -version "1.0.0"
# The register header lands in
#   xlic_hls/solution1/impl/ip/drivers/xlic_layer_v1_0/src/xxlic_layer_hw.h
# Compare it with hls/xxlic_layer_hw.h (`cargo xtask hls-report` does);
# accel-regs is generated from the one in hls/.
exit
