// skinedge_runner: runs an ExecuTorch .pte exported by `skinedge export` with ExecuTorch's C++
// runtime (extension::Module, XNNPACK, the optimized and quantized kernels), the way a phone runs
// it: no Python. It reads the card the .pte embeds (its `model_card` method), checks it against
// the model's own input and output shapes (and against a sidecar card when one is given), runs
// the inputs, and prints what skinedge's phone harness parses (skinedge/bench/android.py), in
// the flags and lines of ExecuTorch's own executor_runner:
//
//   skinedge_runner --model_path=M.pte [--num_executions=N] [--cpu_threads=T]
//                   [--input_path=X.f32 ...] [--card_path=M.card.json] [--print_card]
//
//   Model loaded in 12.3 ms                         program + forward loaded, card checked
//   Iteration 1 of 20: 0.81 ms                      one line per execution
//   Output 0: tensor(sizes=[1, 7], [0.1, ...])      the last execution's outputs, all values
//   Max RSS (KiB): 23456                            the process's resident high-water mark
//
// Each --input_path is a raw little-endian float32 file of the model's input shape (golden/'s
// model_input/*.f32); it is run --num_executions times and its outputs printed after an "Input i:
// PATH" line. Without one, a fixed input of 0.5 everywhere is timed (as the demo apps do).
// A failure is one line in ExecuTorch's log format ("E <time> executorch:<file>:<line>] what"),
// the one the harness quotes as the row's error, and exit status 1.
#include <sys/resource.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/platform/runtime.h>

#include "card_fields.h"

// The wheel ships libexecutorch_threadpool.so without its header: these two are the calls the
// --cpu_threads flag needs, declared as the library defines them.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  bool _unsafe_reset_threadpool(uint32_t num_threads);
  size_t get_thread_count() const;
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

namespace {

using executorch::extension::Module;
using executorch::runtime::Error;
using executorch::runtime::EValue;

const char* kCardMethod = "model_card";

struct Options {
  std::string model;
  long executions = 1;
  long threads = 0;
  std::vector<std::string> inputs;
  std::string card_path;
  bool print_card = false;
};

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

const double kStartMs = now_ms();  // log times count from here, as ExecuTorch's do

// One line in the log format of ExecuTorch's posix PAL, then exit 1.
[[noreturn]] void fail_at(int line, const std::string& what) {
  double ms = now_ms() - kStartMs;
  long s = static_cast<long>(ms / 1000);
  std::fprintf(stderr, "E %02ld:%02ld:%02ld.%06ld executorch:skinedge_runner.cpp:%d] %s\n",
               s / 3600 % 100, s / 60 % 60, s % 60,
               static_cast<long>((ms - 1000.0 * s) * 1000), line, what.c_str());
  std::exit(1);
}
#define FAIL(what) fail_at(__LINE__, (what))

std::string error_name(Error e) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%x", static_cast<unsigned>(e));
  return hex;
}

long parse_count(const std::string& flag, const std::string& value, long lo) {
  char* end = nullptr;
  long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < lo) {
    FAIL(flag + "=" + value + ": expected an integer >= " + std::to_string(lo));
  }
  return v;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string key = arg.substr(0, arg.find('='));
    std::string value = arg.find('=') == std::string::npos ? "" : arg.substr(arg.find('=') + 1);
    if (key == "--model_path") {
      o.model = value;
    } else if (key == "--num_executions") {
      o.executions = parse_count(key, value, 1);
    } else if (key == "--cpu_threads") {
      o.threads = parse_count(key, value, 0);
    } else if (key == "--input_path") {
      o.inputs.push_back(value);
    } else if (key == "--card_path") {
      o.card_path = value;
    } else if (arg == "--print_card") {
      o.print_card = true;
    } else if (key == "--etdump_path") {
      FAIL("--etdump_path: skinedge_runner is built without the event tracer; use ExecuTorch's "
           "executor_runner built with -DEXECUTORCH_ENABLE_EVENT_TRACER=ON for --etdump");
    } else {
      FAIL("unknown flag " + arg + " (flags: --model_path= --num_executions= --cpu_threads= "
           "--input_path= --card_path= --print_card)");
    }
  }
  if (o.model.empty()) {
    FAIL("no model: pass --model_path=FILE.pte");
  }
  return o;
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return false;
  }
  std::ostringstream s;
  s << f.rdbuf();
  *out = s.str();
  return static_cast<bool>(f) || f.eof();
}

std::string sizes_text(const std::vector<long>& sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(sizes[i]);
  }
  return s + "]";
}

// The card embedded in the .pte, or "" when it has no model_card method.
std::string embedded_card(Module& module, const std::string& name) {
  auto names = module.method_names();
  if (!names.ok()) {
    FAIL(name + ": ExecuTorch cannot read its methods (error " + error_name(names.error()) +
         "): corrupt or truncated, or not a .pte; export it again");
  }
  if (!names->count(kCardMethod)) {
    return "";
  }
  auto out = module.execute(kCardMethod);
  if (!out.ok() || out->empty() || !(*out)[0].isTensor()) {
    FAIL(name + ": its model_card method did not return the card (error " +
         error_name(out.error()) + "); export it again");
  }
  const auto& t = (*out)[0].toTensor();
  return std::string(t.const_data_ptr<char>(), t.nbytes());
}

std::vector<long> meta_sizes(const executorch::runtime::TensorInfo& info) {
  std::vector<long> out;
  for (int32_t s : info.sizes()) {
    out.push_back(s);
  }
  return out;
}

// The input shape of forward, after checking the card against the model's shapes.
std::vector<long> check_card(Module& module, const Options& o, const std::string& card) {
  const std::string& name = o.model;
  auto meta = module.method_meta("forward");
  if (!meta.ok() || meta->num_inputs() != 1 || meta->num_outputs() < 1) {
    FAIL(name + ": no forward method with one input (error " + error_name(meta.error()) +
         "): not a model exported by skinedge export");
  }
  auto in = meta->input_tensor_meta(0);
  auto out = meta->output_tensor_meta(0);
  if (!in.ok() || !out.ok()) {
    FAIL(name + ": forward's input or output is not a tensor");
  }
  std::vector<long> in_sizes = meta_sizes(*in), out_sizes = meta_sizes(*out);
  if (!o.card_path.empty()) {
    std::string sidecar;
    if (!read_file(o.card_path, &sidecar)) {
      FAIL(o.card_path + ": cannot read the sidecar card");
    }
    // skinedge writes the sidecar as the embedded bytes plus a final newline
    while (!sidecar.empty() && std::isspace(static_cast<unsigned char>(sidecar.back()))) {
      sidecar.pop_back();
    }
    if (sidecar != card) {
      FAIL("card mismatch: " + o.card_path + " is not the card embedded in " + name +
           " (a sidecar must be its byte copy); export them again together");
    }
  }
  if (card.empty()) {
    std::fprintf(stderr, "W skinedge_runner: %s embeds no model card (no model_card method): "
                 "its shapes are not checked\n", name.c_str());
    in_sizes[0] = 1;
    return in_sizes;
  }
  skinedge::CardFields f;
  std::string problem = skinedge::parse_card_fields(card, &f);
  if (!problem.empty()) {
    FAIL(name + ": its embedded card is not a skinedge model card (" + problem + ")");
  }
  // A dynamic batch dimension is given as its upper bound: any batch is the card's model.
  bool shapes_match = in_sizes.size() == 4 && out_sizes.size() == 2 && in_sizes[0] >= 1 &&
                      in_sizes[1] == 3 && in_sizes[2] == f.input_size &&
                      in_sizes[3] == f.input_size && out_sizes[0] == in_sizes[0] &&
                      out_sizes[1] == f.labels;
  if (!shapes_match) {
    FAIL("card mismatch: " + name + " takes " + sizes_text(in_sizes) + " and gives " +
         sizes_text(out_sizes) + ", but its card says input_size " +
         std::to_string(f.input_size) + " and " + std::to_string(f.labels) +
         " labels: the card belongs to another model; export it again");
  }
  in_sizes[0] = 1;  // batch 1, as on the phone
  return in_sizes;
}

std::vector<float> read_input(const std::string& path, size_t numel, const std::string& shape) {
  std::string bytes;
  if (!read_file(path, &bytes)) {
    FAIL(path + ": cannot read the input file");
  }
  if (bytes.size() != numel * sizeof(float)) {
    FAIL(path + ": " + std::to_string(bytes.size()) + " bytes, but the model takes a float32 " +
         shape + " input (" + std::to_string(numel * sizeof(float)) + " bytes)");
  }
  std::vector<float> v(numel);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

void print_outputs(const std::vector<EValue>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].isTensor()) {
      std::printf("Output %zu: not a tensor\n", i);
      continue;
    }
    const auto& t = outputs[i].toTensor();
    std::vector<long> sizes(t.sizes().begin(), t.sizes().end());
    std::printf("Output %zu: tensor(sizes=%s, [", i, sizes_text(sizes).c_str());
    const float* d = t.const_data_ptr<float>();
    for (ssize_t k = 0; k < t.numel(); ++k) {
      std::printf("%s%.9g", k ? ", " : "", d[k]);
    }
    std::printf("])\n");
  }
}

// VmHWM: the resident high-water mark of this process since exec.
long peak_rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

void run(Module& module, std::vector<float>& data, const std::vector<long>& shape, long n) {
  std::vector<executorch::aten::SizesType> sizes(shape.begin(), shape.end());
  auto tensor = executorch::extension::from_blob(data.data(), sizes);
  std::vector<EValue> outputs;
  for (long i = 1; i <= n; ++i) {
    double t0 = now_ms();
    auto out = module.forward({EValue(*tensor)});
    double t1 = now_ms();
    if (!out.ok()) {
      FAIL("forward failed (error " + error_name(out.error()) + ") at iteration " +
           std::to_string(i));
    }
    std::printf("Iteration %ld of %ld: %.6f ms\n", i, n, t1 - t0);
    if (i == n) {
      outputs = *out;
    }
  }
  print_outputs(outputs);
}

}  // namespace

int main(int argc, char** argv) {
  executorch::runtime::runtime_init();
  Options o = parse_options(argc, argv);
  if (o.threads > 0 &&
      !executorch::extension::threadpool::get_threadpool()->_unsafe_reset_threadpool(
          static_cast<uint32_t>(o.threads))) {
    FAIL("--cpu_threads=" + std::to_string(o.threads) + ": cannot resize the thread pool");
  }
  if (access(o.model.c_str(), R_OK) != 0) {
    FAIL(o.model + ": no such file, or not readable");
  }
  double t0 = now_ms();
  Module module(o.model, Module::LoadMode::MmapUseMlockIgnoreErrors);
  Error loaded = module.load();
  if (loaded != Error::Ok) {
    FAIL(o.model + ": ExecuTorch cannot load it (error " + error_name(loaded) +
         "): corrupt or truncated, or not a .pte; export it again");
  }
  std::string card = embedded_card(module, o.model);
  std::vector<long> shape = check_card(module, o, card);
  Error forward = module.load_method("forward");
  if (forward != Error::Ok) {
    FAIL(o.model + ": ExecuTorch cannot load its forward method (error " + error_name(forward) +
         "): a backend or kernel this runner lacks, or a corrupt file");
  }
  std::printf("Model loaded in %.6f ms\n", now_ms() - t0);
  if (o.print_card) {  // on one line: the card's own newlines are only JSON whitespace
    std::string line = card;
    for (char& c : line) c = (c == '\n' || c == '\r') ? ' ' : c;
    std::printf("Model card: %s\n", line.c_str());
  }
  size_t numel = 1;
  for (long s : shape) {
    numel *= static_cast<size_t>(s);
  }
  if (o.inputs.empty()) {
    std::vector<float> fixed(numel, 0.5f);
    run(module, fixed, shape, o.executions);
  }
  for (size_t i = 0; i < o.inputs.size(); ++i) {
    std::vector<float> data = read_input(o.inputs[i], numel, sizes_text(shape));
    std::printf("Input %zu: %s\n", i, o.inputs[i].c_str());
    run(module, data, shape, o.executions);
  }
  std::printf("Max RSS (KiB): %ld\n", peak_rss_kib());
  return 0;
}
