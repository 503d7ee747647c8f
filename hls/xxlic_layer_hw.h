// ==============================================================
// Vivado(TM) HLS - High-Level Synthesis from C, C++ and SystemC v2019.2 (64-bit)
// Copyright 1986-2019 Xilinx, Inc. All Rights Reserved.
// ==============================================================
// control
// 0x00 : Control signals
//        bit 0  - ap_start (Read/Write/COH)
//        bit 1  - ap_done (Read/COR)
//        bit 2  - ap_idle (Read)
//        bit 3  - ap_ready (Read)
//        bit 7  - auto_restart (Read/Write)
//        others - reserved
// 0x04 : Global Interrupt Enable Register
//        bit 0  - Global Interrupt Enable (Read/Write)
//        others - reserved
// 0x08 : IP Interrupt Enable Register (Read/Write)
//        bit 0  - Channel 0 (ap_done)
//        bit 1  - Channel 1 (ap_ready)
//        others - reserved
// 0x0c : IP Interrupt Status Register (Read/TOW)
//        bit 0  - Channel 0 (ap_done)
//        bit 1  - Channel 1 (ap_ready)
//        others - reserved
// 0x10 : Data signal of ap_return
//        bit 31~0 - ap_return[31:0] (Read)
// 0x18 : Data signal of fm_in
//        bit 31~0 - fm_in[31:0] (Read/Write)
// 0x1c : Data signal of fm_in
//        bit 31~0 - fm_in[63:32] (Read/Write)
// 0x20 : reserved
// 0x24 : Data signal of weights
//        bit 31~0 - weights[31:0] (Read/Write)
// 0x28 : Data signal of weights
//        bit 31~0 - weights[63:32] (Read/Write)
// 0x2c : reserved
// 0x30 : Data signal of params
//        bit 31~0 - params[31:0] (Read/Write)
// 0x34 : Data signal of params
//        bit 31~0 - params[63:32] (Read/Write)
// 0x38 : reserved
// 0x3c : Data signal of fm_out
//        bit 31~0 - fm_out[31:0] (Read/Write)
// 0x40 : Data signal of fm_out
//        bit 31~0 - fm_out[63:32] (Read/Write)
// 0x44 : reserved
// 0x48 : Data signal of op
//        bit 31~0 - op[31:0] (Read/Write)
// 0x4c : reserved
// 0x50 : Data signal of kernel
//        bit 31~0 - kernel[31:0] (Read/Write)
// 0x54 : reserved
// 0x58 : Data signal of stride
//        bit 31~0 - stride[31:0] (Read/Write)
// 0x5c : reserved
// 0x60 : Data signal of cin
//        bit 31~0 - cin[31:0] (Read/Write)
// 0x64 : reserved
// 0x68 : Data signal of cout
//        bit 31~0 - cout[31:0] (Read/Write)
// 0x6c : reserved
// 0x70 : Data signal of in_h
//        bit 31~0 - in_h[31:0] (Read/Write)
// 0x74 : reserved
// 0x78 : Data signal of in_w
//        bit 31~0 - in_w[31:0] (Read/Write)
// 0x7c : reserved
// 0x80 : Data signal of out_h
//        bit 31~0 - out_h[31:0] (Read/Write)
// 0x84 : reserved
// 0x88 : Data signal of out_w
//        bit 31~0 - out_w[31:0] (Read/Write)
// 0x8c : reserved
// 0x90 : Data signal of fm_in2
//        bit 31~0 - fm_in2[31:0] (Read/Write)
// 0x94 : Data signal of fm_in2
//        bit 31~0 - fm_in2[63:32] (Read/Write)
// 0x98 : reserved
// 0x9c : Data signal of fm_out2
//        bit 31~0 - fm_out2[31:0] (Read/Write)
// 0xa0 : Data signal of fm_out2
//        bit 31~0 - fm_out2[63:32] (Read/Write)
// 0xa4 : reserved
// 0xa8 : Data signal of band_rows
//        bit 31~0 - band_rows[31:0] (Read/Write)
// 0xac : reserved
// 0xb0 : Data signal of bands
//        bit 31~0 - bands[31:0] (Read/Write)
// 0xb4 : reserved
// 0xb8 : Data signal of tile_cols
//        bit 31~0 - tile_cols[31:0] (Read/Write)
// 0xbc : reserved
// 0xc0 : Data signal of unit_passes
//        bit 31~0 - unit_passes[31:0] (Read/Write)
// 0xc4 : reserved
// (SC = Self Clear, COR = Clear on Read, TOW = Toggle on Write, COH = Clear on Handshake)

#define XXLIC_LAYER_CONTROL_ADDR_AP_CTRL          0x00
#define XXLIC_LAYER_CONTROL_ADDR_GIE              0x04
#define XXLIC_LAYER_CONTROL_ADDR_IER              0x08
#define XXLIC_LAYER_CONTROL_ADDR_ISR              0x0c
#define XXLIC_LAYER_CONTROL_ADDR_AP_RETURN        0x10
#define XXLIC_LAYER_CONTROL_BITS_AP_RETURN        32
#define XXLIC_LAYER_CONTROL_ADDR_FM_IN_DATA       0x18
#define XXLIC_LAYER_CONTROL_BITS_FM_IN_DATA       64
#define XXLIC_LAYER_CONTROL_ADDR_WEIGHTS_DATA     0x24
#define XXLIC_LAYER_CONTROL_BITS_WEIGHTS_DATA     64
#define XXLIC_LAYER_CONTROL_ADDR_PARAMS_DATA      0x30
#define XXLIC_LAYER_CONTROL_BITS_PARAMS_DATA      64
#define XXLIC_LAYER_CONTROL_ADDR_FM_OUT_DATA      0x3c
#define XXLIC_LAYER_CONTROL_BITS_FM_OUT_DATA      64
#define XXLIC_LAYER_CONTROL_ADDR_OP_DATA          0x48
#define XXLIC_LAYER_CONTROL_BITS_OP_DATA          32
#define XXLIC_LAYER_CONTROL_ADDR_KERNEL_DATA      0x50
#define XXLIC_LAYER_CONTROL_BITS_KERNEL_DATA      32
#define XXLIC_LAYER_CONTROL_ADDR_STRIDE_DATA      0x58
#define XXLIC_LAYER_CONTROL_BITS_STRIDE_DATA      32
#define XXLIC_LAYER_CONTROL_ADDR_CIN_DATA         0x60
#define XXLIC_LAYER_CONTROL_BITS_CIN_DATA         32
#define XXLIC_LAYER_CONTROL_ADDR_COUT_DATA        0x68
#define XXLIC_LAYER_CONTROL_BITS_COUT_DATA        32
#define XXLIC_LAYER_CONTROL_ADDR_IN_H_DATA        0x70
#define XXLIC_LAYER_CONTROL_BITS_IN_H_DATA        32
#define XXLIC_LAYER_CONTROL_ADDR_IN_W_DATA        0x78
#define XXLIC_LAYER_CONTROL_BITS_IN_W_DATA        32
#define XXLIC_LAYER_CONTROL_ADDR_OUT_H_DATA       0x80
#define XXLIC_LAYER_CONTROL_BITS_OUT_H_DATA       32
#define XXLIC_LAYER_CONTROL_ADDR_OUT_W_DATA       0x88
#define XXLIC_LAYER_CONTROL_BITS_OUT_W_DATA       32
#define XXLIC_LAYER_CONTROL_ADDR_FM_IN2_DATA      0x90
#define XXLIC_LAYER_CONTROL_BITS_FM_IN2_DATA      64
#define XXLIC_LAYER_CONTROL_ADDR_FM_OUT2_DATA     0x9c
#define XXLIC_LAYER_CONTROL_BITS_FM_OUT2_DATA     64
#define XXLIC_LAYER_CONTROL_ADDR_BAND_ROWS_DATA   0xa8
#define XXLIC_LAYER_CONTROL_BITS_BAND_ROWS_DATA   32
#define XXLIC_LAYER_CONTROL_ADDR_BANDS_DATA       0xb0
#define XXLIC_LAYER_CONTROL_BITS_BANDS_DATA       32
#define XXLIC_LAYER_CONTROL_ADDR_TILE_COLS_DATA   0xb8
#define XXLIC_LAYER_CONTROL_BITS_TILE_COLS_DATA   32
#define XXLIC_LAYER_CONTROL_ADDR_UNIT_PASSES_DATA 0xc0
#define XXLIC_LAYER_CONTROL_BITS_UNIT_PASSES_DATA 32

