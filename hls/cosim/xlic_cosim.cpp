// X-LIC co-simulation bridge: the HLS kernel (hls/xlic_layer.cpp, the same
// source the testbench and Vivado HLS compile) serving its AXI-Lite
// register block inside QEMU's shared-memory DDR.
//
//   xlic_cosim DDR_FILE [--time-scale N] [--fault never|late:MS|corrupt]
//              [--fault-at START]
//
// Registers: the layout of xxlic_layer_hw.h at XLIC_COSIM_REGS. The bridge
// polls AP_CTRL; on ap_start it takes the start (AP_CTRL = 0: not idle,
// start consumed, done cleared), translates the m_axi addresses (guest
// physical = offset in the DDR file), runs xlic_layer and then sets
// ap_done | ap_idle | ap_ready, and ISR bits enabled in IER.
//
// What shared memory cannot model, and how the firmware copes:
// - ap_done is clear-on-read on the IP; here a read changes nothing, so
//   ap_done stays set until the next start. The firmware reads AP_CTRL
//   once per poll and never relies on the clearing (which is also what
//   the IP needs, see xxlic_layer_hw.h).
// - ISR toggle-on-write is not modelled (the firmware polls).
//
// Faults for tests (the START-th start, 1-based; default every start):
//   never    take the start, never finish (until a reset request);
//   late:MS  finish MS milliseconds after computing;
//   corrupt  flip one output value.
// One line per layer goes to stdout for the launcher's figures.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <thread>
#include <vector>
#include <unistd.h>

#include "../xlic_layer.h"
#include "../xxlic_layer_hw.h"
#include "xlic_cosim.h"

namespace {

volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

struct Options {
    const char *ddr = nullptr;
    uint32_t time_scale = 1000;
    uint32_t fault = XLIC_COSIM_FAULT_NONE;
    uint32_t late_ms = 0;
    uint32_t fault_at = 0;  // 0: every start
};

[[noreturn]] void usage(const char *why) {
    fprintf(stderr, "xlic_cosim: %s\nusage: xlic_cosim DDR_FILE [--time-scale N] [--fault never|late:MS|corrupt] [--fault-at START]\n", why);
    exit(2);
}

Options parse(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + a).c_str());
            return argv[++i];
        };
        if (a == "--time-scale") {
            o.time_scale = (uint32_t)strtoul(value().c_str(), nullptr, 10);
        } else if (a == "--fault") {
            std::string f = value();
            if (f == "never") o.fault = XLIC_COSIM_FAULT_NEVER;
            else if (f == "corrupt") o.fault = XLIC_COSIM_FAULT_CORRUPT;
            else if (f.rfind("late:", 0) == 0) {
                o.fault = XLIC_COSIM_FAULT_LATE;
                o.late_ms = (uint32_t)strtoul(f.c_str() + 5, nullptr, 10);
            } else usage(("unknown fault " + f).c_str());
        } else if (a == "--fault-at") {
            o.fault_at = (uint32_t)strtoul(value().c_str(), nullptr, 10);
        } else if (!o.ddr && a[0] != '-') {
            o.ddr = argv[i];
        } else {
            usage(("unexpected argument " + a).c_str());
        }
    }
    if (!o.ddr) usage("no DDR file");
    return o;
}

// A 32-bit word of guest memory, shared with QEMU's vCPU threads.
struct Ddr {
    uint8_t *base;
    size_t size;
    std::atomic<uint32_t> &word(uint64_t addr) const {
        return *reinterpret_cast<std::atomic<uint32_t> *>(base + addr);
    }
    uint32_t reg(uint32_t off) const { return word(XLIC_COSIM_REGS + off).load(std::memory_order_acquire); }
    void set_reg(uint32_t off, uint32_t v) const { word(XLIC_COSIM_REGS + off).store(v, std::memory_order_release); }
    std::atomic<uint32_t> &info(uint32_t w) const { return word(XLIC_COSIM_INFO + 4 * w); }
    uint64_t reg64(uint32_t off) const { return (uint64_t)reg(off) | (uint64_t)reg(off + 4) << 32; }
};

const uint32_t AP_START = 1, AP_DONE = 2, AP_IDLE = 4, AP_READY = 8;

struct Job {
    uint64_t fm_in, weights, params, fm_out, fm_in2, fm_out2;
    uint32_t op, kernel, stride, cin, cout, in_h, in_w, out_h, out_w;
    uint32_t band_rows, bands, tile_cols, unit_passes;
};

Job read_job(const Ddr &d) {
    Job j;
    j.fm_in = d.reg64(XXLIC_LAYER_CONTROL_ADDR_FM_IN_DATA);
    j.weights = d.reg64(XXLIC_LAYER_CONTROL_ADDR_WEIGHTS_DATA);
    j.params = d.reg64(XXLIC_LAYER_CONTROL_ADDR_PARAMS_DATA);
    j.fm_out = d.reg64(XXLIC_LAYER_CONTROL_ADDR_FM_OUT_DATA);
    j.fm_in2 = d.reg64(XXLIC_LAYER_CONTROL_ADDR_FM_IN2_DATA);
    j.fm_out2 = d.reg64(XXLIC_LAYER_CONTROL_ADDR_FM_OUT2_DATA);
    j.op = d.reg(XXLIC_LAYER_CONTROL_ADDR_OP_DATA);
    j.kernel = d.reg(XXLIC_LAYER_CONTROL_ADDR_KERNEL_DATA);
    j.stride = d.reg(XXLIC_LAYER_CONTROL_ADDR_STRIDE_DATA);
    j.cin = d.reg(XXLIC_LAYER_CONTROL_ADDR_CIN_DATA);
    j.cout = d.reg(XXLIC_LAYER_CONTROL_ADDR_COUT_DATA);
    j.in_h = d.reg(XXLIC_LAYER_CONTROL_ADDR_IN_H_DATA);
    j.in_w = d.reg(XXLIC_LAYER_CONTROL_ADDR_IN_W_DATA);
    j.out_h = d.reg(XXLIC_LAYER_CONTROL_ADDR_OUT_H_DATA);
    j.out_w = d.reg(XXLIC_LAYER_CONTROL_ADDR_OUT_W_DATA);
    j.band_rows = d.reg(XXLIC_LAYER_CONTROL_ADDR_BAND_ROWS_DATA);
    j.bands = d.reg(XXLIC_LAYER_CONTROL_ADDR_BANDS_DATA);
    j.tile_cols = d.reg(XXLIC_LAYER_CONTROL_ADDR_TILE_COLS_DATA);
    j.unit_passes = d.reg(XXLIC_LAYER_CONTROL_ADDR_UNIT_PASSES_DATA);
    return j;
}

uint64_t groups(uint32_t c) { return (c + XLIC_LANES - 1) / XLIC_LANES; }
uint64_t out_tiles(uint32_t c) { return (c + XLIC_POF - 1) / XLIC_POF; }
uint64_t out_words(const Job &j) { return (uint64_t)j.out_h * groups(j.cout) * j.out_w; }

// Why the IP would misbehave on these registers, or null. (The IP itself
// does not check; the bridge refuses rather than scribble over QEMU's RAM.)
const char *check(const Job &j) {
    if (j.op > XLIC_OP_IGDN) return "op";
    if (j.cin == 0 || j.cin > XLIC_MAX_CHANNELS || j.cout == 0 || j.cout > XLIC_MAX_CHANNELS) return "channels";
    if (j.kernel == 0 || j.kernel > XLIC_MAX_KERNEL || j.stride == 0 || j.stride > XLIC_MAX_STRIDE) return "kernel/stride";
    if (j.in_h == 0 || j.in_w == 0 || j.out_h == 0 || j.out_w == 0 || j.in_h > XLIC_MAX_SIDE || j.in_w > XLIC_MAX_SIDE ||
        j.out_h > XLIC_MAX_SIDE || j.out_w > XLIC_MAX_SIDE)
        return "dimensions";
    const uint64_t w = 16;  // bytes per bus word
    const uint64_t k = (j.op >= XLIC_OP_GDN) ? 1 : j.kernel;
    const uint64_t in_b = (uint64_t)j.in_h * groups(j.cin) * j.in_w * w;
    const uint64_t wt_b = out_tiles(j.cout) * groups(j.cin) * k * k * XLIC_POF * w;
    const uint64_t pr_b = out_tiles(j.cout) * XLIC_POF * w;
    const uint64_t out_b = out_words(j) * w;
    if (j.fm_in2 != j.fm_in || j.fm_out2 != j.fm_out) return "the second ports must carry the same maps (fm_in2 = fm_in, fm_out2 = fm_out)";
    const uint64_t spans[4][2] = {{j.fm_in, in_b}, {j.weights, wt_b}, {j.params, pr_b}, {j.fm_out, out_b}};
    for (auto &s : spans) {
        if (s[0] % w != 0) return "an m_axi address is not 16-byte aligned";
        if (s[0] + s[1] > XLIC_COSIM_REGS) return "a buffer runs past low DDR into the register window";
    }
    return nullptr;
}

}  // namespace

int main(int argc, char **argv) {
    const Options o = parse(argc, argv);
    // Leave with the launcher, whatever happens to it.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    const int fd = open(o.ddr, O_RDWR);
    if (fd < 0) {
        perror(o.ddr);
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < (uint64_t)XLIC_COSIM_INFO + 4096) {
        fprintf(stderr, "xlic_cosim: %s is smaller than the co-simulation window\n", o.ddr);
        return 1;
    }
    void *m = mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    const Ddr d{static_cast<uint8_t *>(m), (size_t)st.st_size};

    // Power-on state: idle, then the info block (magic last: a firmware
    // that sees the magic sees a complete block).
    d.set_reg(XXLIC_LAYER_CONTROL_ADDR_AP_CTRL, AP_IDLE);
    d.info(XLIC_COSIM_WORD_VERSION).store(XLIC_COSIM_VERSION);
    d.info(XLIC_COSIM_WORD_TIME_SCALE).store(o.time_scale);
    d.info(XLIC_COSIM_WORD_STARTS).store(0);
    d.info(XLIC_COSIM_WORD_RESET).store(0);
    d.info(XLIC_COSIM_WORD_FAULT).store(o.fault);
    d.info(1).store(XLIC_COSIM_MAGIC_HI);
    d.info(0).store(XLIC_COSIM_MAGIC_LO, std::memory_order_release);
    printf("ready\n");
    fflush(stdout);

    // The heartbeat runs beside the kernel, so a long layer still shows a
    // live bridge.
    std::thread heart([&d] {
        for (uint32_t beat = 1; !stop_requested; beat++) {
            d.info(XLIC_COSIM_WORD_HEARTBEAT).store(beat, std::memory_order_release);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    uint32_t starts = 0;
    bool hung = false;
    double compute_s = 0;
    while (!stop_requested) {
        if (d.info(XLIC_COSIM_WORD_RESET).load() != 0) {
            hung = false;
            d.set_reg(XXLIC_LAYER_CONTROL_ADDR_AP_CTRL, AP_IDLE);
            d.info(XLIC_COSIM_WORD_RESET).store(0, std::memory_order_release);
            printf("reset\n");
            fflush(stdout);
        }
        const uint32_t ctrl = d.reg(XXLIC_LAYER_CONTROL_ADDR_AP_CTRL);
        if (hung || !(ctrl & AP_START)) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
            continue;
        }
        // Handshake: start taken, busy (auto_restart is not supported).
        d.set_reg(XXLIC_LAYER_CONTROL_ADDR_AP_CTRL, 0);
        // No status until the kernel returns one (a start the bridge
        // refuses below finishes with status 0: "not this kernel").
        d.set_reg(XXLIC_LAYER_CONTROL_ADDR_AP_RETURN, 0);
        starts++;
        d.info(XLIC_COSIM_WORD_STARTS).store(starts);
        const Job j = read_job(d);
        const bool faulty = o.fault != XLIC_COSIM_FAULT_NONE && (o.fault_at == 0 || o.fault_at == starts);
        if (const char *why = check(j)) {
            fprintf(stderr, "xlic_cosim: start %u refused (%s): the IP would read or write outside DDR\n", starts, why);
        } else if (faulty && o.fault == XLIC_COSIM_FAULT_NEVER) {
            printf("start %u: %s: fault injected: never finishing\n", starts, xlic_op_name(j.op));
            fflush(stdout);
            hung = true;
            continue;
        } else {
            const auto t0 = std::chrono::steady_clock::now();
            // The m_axi ports see DDR as 128-bit words (ap_uint<128> has no
            // defined host layout, so the words are converted, not cast).
            auto words = [&](uint64_t a, uint64_t n) {
                std::vector<word_t> v(n);
                for (uint64_t i = 0; i < n; i++) v[i] = xlic_word_le(d.base + a + 16 * i);
                return v;
            };
            const uint64_t k = (j.op >= XLIC_OP_GDN) ? 1 : j.kernel;
            const std::vector<word_t> in = words(j.fm_in, (uint64_t)j.in_h * groups(j.cin) * j.in_w);
            const std::vector<word_t> wt = words(j.weights, out_tiles(j.cout) * groups(j.cin) * k * k * XLIC_POF);
            const std::vector<word_t> pr = words(j.params, out_tiles(j.cout) * XLIC_POF);
            std::vector<word_t> out = words(j.fm_out, out_words(j));
            const uint32_t status =
                xlic_layer(in.data(), wt.data(), pr.data(), out.data(), j.op, j.kernel, j.stride, j.cin, j.cout, j.in_h,
                           j.in_w, j.out_h, j.out_w, in.data(), out.data(), j.band_rows, j.bands, j.tile_cols, j.unit_passes);
            // The kernel's return value is the IP's AP_RETURN register.
            d.set_reg(XXLIC_LAYER_CONTROL_ADDR_AP_RETURN, status);
            if (faulty && o.fault == XLIC_COSIM_FAULT_CORRUPT) {
                out[out_words(j) / 2].range(15, 0) = out[out_words(j) / 2].range(15, 0) ^ 0x0100;
            }
            for (uint64_t i = 0; i < out.size(); i++) xlic_word_store_le(out[i], d.base + j.fm_out + 16 * i);
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            compute_s += s;
            d.info(XLIC_COSIM_WORD_LAST_MICROS).store((uint32_t)(s * 1e6));
            printf("start %u: %s %ux%u/%u %u->%u %ux%u -> %ux%u: %.3f s%s%s\n", starts, xlic_op_name(j.op), j.kernel, j.kernel,
                   j.stride, j.cin, j.cout, j.in_w, j.in_h, j.out_w, j.out_h, s,
                   (status & XLIC_STATUS_CODE_MASK) == XLIC_STATUS_TILE_REFUSED    ? " (tile refused)"
                   : (status & XLIC_STATUS_CODE_MASK) == XLIC_STATUS_LAYER_REFUSED ? " (layer refused)"
                                                                                   : "",
                   faulty && o.fault == XLIC_COSIM_FAULT_CORRUPT ? " (fault injected, one output value flipped)" : "");
            fflush(stdout);
            if (faulty && o.fault == XLIC_COSIM_FAULT_LATE) {
                std::this_thread::sleep_for(std::chrono::milliseconds(o.late_ms));
            }
        }
        const uint32_t ier = d.reg(XXLIC_LAYER_CONTROL_ADDR_IER);
        d.set_reg(XXLIC_LAYER_CONTROL_ADDR_ISR, d.reg(XXLIC_LAYER_CONTROL_ADDR_ISR) | (ier & 3));
        d.set_reg(XXLIC_LAYER_CONTROL_ADDR_AP_CTRL, AP_DONE | AP_IDLE | AP_READY);
    }
    heart.join();
    printf("stopped: %u starts, %.3f s in the kernel\n", starts, compute_s);
    fflush(stdout);
    munmap(m, st.st_size);
    close(fd);
    return 0;
}
