// C-simulation testbench of the X-LIC accelerator.
//
// Each vector file (written by `cargo xtask csim` from the xlic-model
// integer reference) holds one layer: its registers, input map, weights,
// parameters and the expected output. The testbench runs xlic_layer on
// them and compares every output word bit for bit. A file flagged CHAIN
// takes its input from the previous file's *kernel* output instead of its
// own, so a chain of files is the whole codec run by the kernel alone.
//
// Each file also holds the performance model's loop counts for its layer
// (xlic_model::perf::LoopCounts); a case whose kernel run counts
// differently fails too, so the model cannot drift from the code.
//
// Usage: xlic_tb FILE...      Exit status 0 only if every case matches.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>
#include "../xlic_layer.h"

namespace {

const char MAGIC[8] = {'X', 'L', 'I', 'C', 'T', 'V', '0', '5'};
const uint32_t FLAG_CHAIN = 1;
// The tile is one the buffers cannot hold (or the layer is beyond the
// kernel's limits): the kernel must refuse it and write nothing (the
// expected output is the poison); the expected status says which.
const uint32_t FLAG_REFUSED = 2;

struct Case {
    uint32_t op, kernel, stride, cin, cout, in_h, in_w, out_h, out_w;
    uint32_t flags;
    // The status word the kernel must return (code | configuration << 8).
    uint32_t status;
    // The tile registers: band_rows, bands, tile_cols, unit_passes.
    uint32_t tile[4];
    // mac_iterations, input_words, weight_words, output_words, input_runs,
    // weight_runs, output_runs
    uint64_t model[7];
    char name[48];
    std::vector<word_t> in, weights, params, expected;
};

// n words of XLIC_LANES little-endian INT16 each (the DDR layout).
bool read_words(FILE *f, std::vector<word_t> &v, uint32_t n) {
    std::vector<int16_t> raw((size_t)n * XLIC_LANES);
    if (n != 0 && fread(raw.data(), sizeof(int16_t) * XLIC_LANES, n, f) != n) return false;
    v.resize(n);
    for (uint32_t i = 0; i < n; i++) v[i] = xlic_word(&raw[(size_t)i * XLIC_LANES]);
    return true;
}

bool load(const char *path, Case &c) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[8];
    uint32_t h[19];
    bool ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, MAGIC, 8) == 0 && fread(h, 4, 19, f) == 19 &&
              fread(c.model, 8, 7, f) == 7 && fread(c.name, 1, sizeof c.name, f) == sizeof c.name;
    if (ok) {
        c.op = h[0], c.kernel = h[1], c.stride = h[2], c.cin = h[3], c.cout = h[4];
        c.in_h = h[5], c.in_w = h[6], c.out_h = h[7], c.out_w = h[8], c.flags = h[9];
        for (int k = 0; k < 4; k++) c.tile[k] = h[10 + k];
        c.status = h[18];
        c.name[sizeof c.name - 1] = 0;
        ok = read_words(f, c.in, h[14]) && read_words(f, c.weights, h[15]) && read_words(f, c.params, h[16]) &&
             read_words(f, c.expected, h[17]);
    }
    fclose(f);
    return ok;
}

const char RULES_MAGIC[8] = {'X', 'L', 'I', 'C', 'R', 'U', 'L', 'E'};

// A rules file: boundary cases of the per-output rules (GDN's divider
// around its saturation limits, exact ties, the largest shifts...), each
// with the value xlic_model::quant computes. Returns false if unreadable.
bool run_rules(const char *path, int &passed, int &failed) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[8];
    uint32_t n = 0;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, RULES_MAGIC, 8) != 0 || fread(&n, 4, 1, f) != 1) {
        fclose(f);
        return false;
    }
    uint32_t bad = 0, read = 0;
    for (; read < n; read++) {
        // u32 op, i32 shift, i32 mult, i16 x, i16 expected, i64 acc, i64 bias
        uint8_t r[32];
        if (fread(r, 1, 32, f) != 32) break;
        uint32_t op;
        int32_t shift, mult;
        int16_t x, expected;
        int64_t acc, bias;
        memcpy(&op, r, 4), memcpy(&shift, r + 4, 4), memcpy(&mult, r + 8, 4), memcpy(&x, r + 12, 2);
        memcpy(&expected, r + 14, 2), memcpy(&acc, r + 16, 8), memcpy(&bias, r + 24, 8);
        const int16_t got = xlic_finish_rule(op, acc, x, bias, mult, shift);
        if (got != expected) {
            if (bad++ < 5)
                printf("  %s rule: acc %lld x %d bias %lld mult %d shift %d: got %d, expected %d\n", xlic_op_name(op),
                       (long long)acc, x, (long long)bias, mult, shift, got, expected);
        }
    }
    fclose(f);
    const bool ok = read == n && n > 0 && bad == 0;
    printf("%-22s %u boundary cases of the per-output rules: %s\n", "rules", n, ok ? "ok" : "MISMATCH");
    (ok ? passed : failed)++;
    return true;
}

}  // namespace

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    std::vector<word_t> previous;
    for (int i = 1; i < argc; i++) {
        if (run_rules(argv[i], passed, failed)) continue;
        Case c;
        if (!load(argv[i], c)) {
            printf("%s: cannot read test vector\n", argv[i]);
            failed++;
            continue;
        }
        const std::vector<word_t> *input = &c.in;
        if (c.flags & FLAG_CHAIN) {
            if (previous.size() != c.in.size()) {
                printf("%s: chain input has %zu words, previous output %zu\n", c.name, c.in.size(), previous.size());
                failed++;
                continue;
            }
            input = &previous;
        }
        // Poison the output so unwritten words cannot pass.
        const int16_t poison[XLIC_LANES] = {0x5a5a, 0x5a5a, 0x5a5a, 0x5a5a, 0x5a5a, 0x5a5a, 0x5a5a, 0x5a5a};
        std::vector<word_t> out(c.expected.size(), xlic_word(poison));
        const auto t0 = std::chrono::steady_clock::now();
        // The same map on both read ports and both write ports, as the
        // firmware programs them.
        const uint32_t status =
            xlic_layer(input->data(), c.weights.data(), c.params.data(), out.data(), c.op, c.kernel, c.stride, c.cin,
                       c.cout, c.in_h, c.in_w, c.out_h, c.out_w, input->data(), out.data(), c.tile[0], c.tile[1],
                       c.tile[2], c.tile[3]);
        if (c.flags & FLAG_REFUSED) {
            for (size_t w = 0; w < c.expected.size(); w++) c.expected[w] = xlic_word(poison);
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        size_t bad = 0, first = 0;
        for (size_t w = 0; w < out.size(); w++) {
            if (out[w] != c.expected[w]) {
                if (bad++ == 0) first = w;
            }
        }
        printf("%-22s %-5s k%u s%u %3u->%-3u %4ux%-4u -> %4ux%-4u %8.3f s  ", c.name, xlic_op_name(c.op), c.kernel,
               c.stride, c.cin, c.cout, c.in_w, c.in_h, c.out_w, c.out_h, secs);
        const uint64_t counted[7] = {xlic_counts.mac_iterations, xlic_counts.input_words, xlic_counts.weight_words,
                                     xlic_counts.output_words,   xlic_counts.input_runs,  xlic_counts.weight_runs,
                                     xlic_counts.output_runs};
        const bool counts_ok = memcmp(counted, c.model, sizeof counted) == 0;
        if (status != c.status) {
            // A refusal nobody can see, or a configuration word the
            // firmware would not recognise, is a failure on its own.
            printf("STATUS 0x%08x, expected 0x%08x (code %u, configuration 0x%06x; expected code %u, 0x%06x)\n", status,
                   c.status, status & XLIC_STATUS_CODE_MASK, status >> XLIC_STATUS_CONFIG_SHIFT,
                   c.status & XLIC_STATUS_CODE_MASK, c.status >> XLIC_STATUS_CONFIG_SHIFT);
            failed++;
        } else if (bad == 0 && counts_ok) {
            printf("ok\n");
            passed++;
        } else if (bad == 0) {
            printf("LOOP COUNTS differ from the performance model (mac iterations; input, weight, output words;"
                   " input, weight, output bursts):");
            for (int k = 0; k < 7; k++) printf(" %s%llu/%llu", counted[k] == c.model[k] ? "" : "*", (unsigned long long)counted[k],
                                               (unsigned long long)c.model[k]);
            printf(" (kernel/model)\n");
            failed++;
        } else {
            int lane = 0;
            while (lane < XLIC_LANES - 1 && xlic_lane(out[first], lane) == xlic_lane(c.expected[first], lane)) lane++;
            printf("MISMATCH: %zu of %zu words, first at word %zu lane %d: got %d, expected %d\n", bad, out.size(),
                   first, lane, xlic_lane(out[first], lane), xlic_lane(c.expected[first], lane));
            failed++;
        }
        previous.swap(out);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
