# Vivado HLS 2019.2: synthesize the X-LIC layer kernel for the ZCU102 and
# export it as an IP. Run from this folder:  vivado_hls -f script.tcl
# (C-simulation needs no Xilinx tools: `cargo xtask csim`.)
open_project -reset xlic_hls
set_top xlic_layer
add_files xlic_layer.cpp
add_files xlic_layer.h
add_files xlic_config.h
add_files -tb tb/xlic_tb.cpp

open_solution -reset solution1
set_part {xczu9eg-ffvb1156-2-e}
# 3.2 ns as the ZCU102 reference design (XLIC_CLOCK_PERIOD_PS in xlic_config.h).
create_clock -period 3.2 -name default
config_interface -m_axi_addr64
config_compile -name_max_length 80

csynth_design
export_design -format ip_catalog -description "X-LIC bls2017 layer accelerator" -vendor "x-lic" -library "hls" -version "1.0"
# The register header lands in
#   xlic_hls/solution1/impl/ip/drivers/xlic_layer_v1_0/src/xxlic_layer_hw.h
# Copy it over hls/xxlic_layer_hw.h; accel-regs is generated from it.
exit
