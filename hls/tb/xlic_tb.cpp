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

const char MAGIC[8] = {'X', 'L', 'I', 'C', 'T', 'V', '0', '2'};
const uint32_t FLAG_CHAIN = 1;

struct Case {
    uint32_t op, kernel, stride, cin, cout, in_h, in_w, out_h, out_w;
    uint32_t flags;
    uint64_t model[4];  // mac_iterations, input_words, weight_words, output_words
    char name[48];
    std::vector<wide_t> in, weights, params, expected;
};

bool read_words(FILE *f, std::vector<wide_t> &v, uint32_t n) {
    v.resize(n);
    return n == 0 || fread(v.data(), sizeof(wide_t), n, f) == n;
}

bool load(const char *path, Case &c) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[8];
    uint32_t h[14];
    bool ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, MAGIC, 8) == 0 && fread(h, 4, 14, f) == 14 &&
              fread(c.model, 8, 4, f) == 4 && fread(c.name, 1, sizeof c.name, f) == sizeof c.name;
    if (ok) {
        c.op = h[0], c.kernel = h[1], c.stride = h[2], c.cin = h[3], c.cout = h[4];
        c.in_h = h[5], c.in_w = h[6], c.out_h = h[7], c.out_w = h[8], c.flags = h[9];
        c.name[sizeof c.name - 1] = 0;
        ok = read_words(f, c.in, h[10]) && read_words(f, c.weights, h[11]) && read_words(f, c.params, h[12]) &&
             read_words(f, c.expected, h[13]);
    }
    fclose(f);
    return ok;
}

}  // namespace

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    std::vector<wide_t> previous;
    for (int i = 1; i < argc; i++) {
        Case c;
        if (!load(argv[i], c)) {
            printf("%s: cannot read test vector\n", argv[i]);
            failed++;
            continue;
        }
        const std::vector<wide_t> *input = &c.in;
        if (c.flags & FLAG_CHAIN) {
            if (previous.size() != c.in.size()) {
                printf("%s: chain input has %zu words, previous output %zu\n", c.name, c.in.size(), previous.size());
                failed++;
                continue;
            }
            input = &previous;
        }
        std::vector<wide_t> out(c.expected.size());
        // Poison the output so unwritten words cannot pass.
        for (auto &w : out) for (auto &v : w.v) v = (int16_t)0x5a5a;
        const auto t0 = std::chrono::steady_clock::now();
        xlic_layer(input->data(), c.weights.data(), c.params.data(), out.data(), c.op, c.kernel, c.stride, c.cin,
                   c.cout, c.in_h, c.in_w, c.out_h, c.out_w);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        size_t bad = 0, first = 0;
        for (size_t w = 0; w < out.size(); w++) {
            if (memcmp(&out[w], &c.expected[w], sizeof(wide_t)) != 0) {
                if (bad++ == 0) first = w;
            }
        }
        printf("%-22s %-5s k%u s%u %3u->%-3u %4ux%-4u -> %4ux%-4u %8.3f s  ", c.name, xlic_op_name(c.op), c.kernel,
               c.stride, c.cin, c.cout, c.in_w, c.in_h, c.out_w, c.out_h, secs);
        const uint64_t counted[4] = {xlic_counts.mac_iterations, xlic_counts.input_words, xlic_counts.weight_words,
                                     xlic_counts.output_words};
        const bool counts_ok = memcmp(counted, c.model, sizeof counted) == 0;
        if (bad == 0 && counts_ok) {
            printf("ok\n");
            passed++;
        } else if (bad == 0) {
            printf("LOOP COUNTS differ from the performance model (mac iterations, input, weight, output words):"
                   " kernel %llu %llu %llu %llu, model %llu %llu %llu %llu\n",
                   (unsigned long long)counted[0], (unsigned long long)counted[1], (unsigned long long)counted[2],
                   (unsigned long long)counted[3], (unsigned long long)c.model[0], (unsigned long long)c.model[1],
                   (unsigned long long)c.model[2], (unsigned long long)c.model[3]);
            failed++;
        } else {
            int lane = 0;
            while (lane < XLIC_LANES - 1 && out[first].v[lane] == c.expected[first].v[lane]) lane++;
            printf("MISMATCH: %zu of %zu words, first at word %zu lane %d: got %d, expected %d\n", bad, out.size(),
                   first, lane, out[first].v[lane], c.expected[first].v[lane]);
            failed++;
        }
        previous.swap(out);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
