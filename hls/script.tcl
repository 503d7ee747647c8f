# Vivado HLS 2019.2: synthesize the X-LIC layer kernel for the ZCU102 and
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
add_files -tb tb/xlic_tb.cpp

open_solution -reset solution1
set_part {xczu9eg-ffvb1156-2-e}
# 250 MHz (XLIC_CLOCK_PERIOD_PS in xlic_config.h; the performance model's
# default), 12.5 % of it reserved for routing.
create_clock -period 4 -name default
set_clock_uncertainty 12.5%
config_interface -m_axi_addr64
config_compile -name_max_length 80

csynth_design
export_design -format ip_catalog -description "X-LIC bls2017 layer accelerator" -vendor "x-lic" -library "hls" -version "1.0"
# The register header lands in
#   xlic_hls/solution1/impl/ip/drivers/xlic_layer_v1_0/src/xxlic_layer_hw.h
# Compare it with hls/xxlic_layer_hw.h (`cargo xtask hls-report` does);
# accel-regs is generated from the one in hls/.
exit
