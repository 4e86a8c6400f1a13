// llama.cpp's own numbers, tensor by tensor, for checking that Wick repeats
// its arithmetic (engine/src/kernels/ggml.rs): runs a GGUF on the given
// prompt token ids with flash attention off and 2 threads, as the reference
// fixture's llama-server did, and writes every named f32 tensor of each
// decode call (llama.cpp's eval callback: attn_norm-N, Qcur-N, kqv_out-N,
// ffn_out-N, l_out-N, ...) to DIR/<step>/<name>.bin (four int64 dims, then
// the values) and the logits to DIR/<step>/logits.bin; then decodes N
// tokens greedily, one per call, printing their ids. Outside the test
// suite; build it against llama.cpp built as ../shared/PERF-NOTES.md says
// (-DGGML_NATIVE=OFF -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON):
//
//   L=/tmp/llm/llama_cpp_python-0.3.36/vendor/llama.cpp
//   g++ -O2 -std=c++17 bench/llama_cpp_dump.cpp -I$L/include -I$L/ggml/include \
//       -L$L/build/bin -lllama -lggml -lggml-base -Wl,-rpath,$L/build/bin -o /tmp/dump
//   /tmp/dump examples/smollm2/model.gguf /tmp/dump-llama 8 1 4093 198 1780 ...
//
// Measured 2026-12-03 against the same values written from Wick's forward
// pass: all 30 layers equal in every bit, for the prompt and each decode step.
#include "llama.h"
#include "ggml.h"
#include "ggml-backend.h"
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <sys/stat.h>

static std::string dir;
static int step = 0;

static bool cb(struct ggml_tensor * t, bool ask, void *) {
    if (ask) return true;
    if (t->type != GGML_TYPE_F32 || !t->name[0]) return true;
    std::string d = dir + "/" + std::to_string(step);
    mkdir(d.c_str(), 0755);
    std::vector<float> buf(ggml_nelements(t));
    if (!ggml_is_contiguous(t)) return true;
    ggml_backend_tensor_get(t, buf.data(), 0, ggml_nbytes(t));
    std::string name = t->name;
    for (auto & c : name) if (c == '/' || c == ' ') c = '_';
    FILE * f = fopen((d + "/" + name + ".bin").c_str(), "wb");
    int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
    fwrite(ne, sizeof(ne), 1, f);
    fwrite(buf.data(), 4, buf.size(), f);
    fclose(f);
    return true;
}

int main(int argc, char ** argv) {
    // dump MODEL DIR N id id id...
    const char * model_path = argv[1];
    dir = argv[2];
    int n_new = atoi(argv[3]);
    std::vector<llama_token> prompt;
    for (int i = 4; i < argc; i++) prompt.push_back(atoi(argv[i]));
    mkdir(dir.c_str(), 0755);
    llama_backend_init();
    auto mp = llama_model_default_params();
    llama_model * model = llama_model_load_from_file(model_path, mp);
    auto cp = llama_context_default_params();
    cp.n_ctx = 1024;
    cp.n_batch = 512;
    cp.n_ubatch = 512;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.cb_eval = cb;
    llama_context * ctx = llama_init_from_model(model, cp);
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    llama_batch batch = llama_batch_get_one(prompt.data(), prompt.size());
    std::vector<llama_token> out;
    for (int i = 0; i <= n_new; i++) {
        if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
        const float * logits = llama_get_logits_ith(ctx, -1);
        FILE * f = fopen((dir + "/" + std::to_string(step) + "/logits.bin").c_str(), "wb");
        fwrite(logits, 4, n_vocab, f); fclose(f);
        int best = 0;
        for (int v = 1; v < n_vocab; v++) if (logits[v] > logits[best]) best = v;
        printf("%d ", best); fflush(stdout);
        out.push_back(best);
        step++;
        batch = llama_batch_get_one(&out.back(), 1);
    }
    printf("\n");
    return 0;
}
