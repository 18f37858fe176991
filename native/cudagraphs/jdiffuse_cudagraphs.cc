// CUDA-graph capture and replay of a TorchScript method call, for the JVM (dev.jdiffuse.models.nn.CudaGraphNative).
//
// Why: a scripted SD 1.5 UNet forward at 2 rows is about 1200 kernels; libtorch's interpreter takes 12-16 ms of host
// time to launch them, more than the 11.4 ms the GPU needs, so one image is host-bound and its time follows the host's
// speed. A CUDA graph launches the recorded kernels in one call (cudaGraphLaunch). DJL has no API for it, so this
// small library does it over DJL's own handles: a module handle is a torch::jit::script::Module*, an IValue handle a
// torch::IValue*, a tensor handle a torch::Tensor* (DJL's ai_djl_pytorch_jni_PyTorchLibrary_*.cc).
//
// The contract (as torch.cuda.graphs): the captured call reads its inputs from static tensors and writes its outputs
// to static tensors. Arguments marked varying (a tensor or a list of tensors) are cloned into static buffers on the
// graph's device at capture and copied into them before each replay; the others (the weight list) are held as they
// were given, so the graph keeps them alive and reads them where they are. A replay returns clones of the outputs,
// so the next replay cannot overwrite what a caller still holds. The graphs of one model share a private memory pool
// (capture's share_with): their temporaries may overlap, which is safe because replays run one after another on the
// caller's stream and each replay's outputs are cloned before the next one starts.
//
// Build: native/cudagraphs/build.sh (against the libtorch the JVM's DJL JNI uses).
#include <jni.h>

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/script.h>

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Captured {
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  std::vector<torch::IValue> args;                 // what the captured call read
  std::vector<std::vector<at::Tensor>> statics;    // per argument: its static buffers, empty for a fixed argument
  std::vector<at::Tensor> outputs;                 // written by each replay
  std::vector<std::vector<const void*>> fixed;     // per fixed argument: its tensors' data, which replays must pass
  c10::Device device{c10::DeviceType::CUDA, 0};
};

std::mutex streams_lock;
// One capture stream per device, for every capture: the caching allocator keeps freed blocks per stream, so warm-ups
// on a new pool stream each time strand gigabytes (measured: 64 GiB reserved after 13 captures, then out of memory).
std::map<int, c10::cuda::CUDAStream> capture_streams;

c10::cuda::CUDAStream capture_stream(c10::DeviceIndex device) {
  std::lock_guard<std::mutex> lock(streams_lock);
  auto it = capture_streams.find(device);
  if (it == capture_streams.end()) {
    it = capture_streams.emplace(device, c10::cuda::getStreamFromPool(false, device)).first;
  }
  return it->second;
}

std::vector<at::Tensor> tensors_of(const torch::IValue& v, const char* what) {
  if (v.isTensor()) {
    return {v.toTensor()};
  }
  if (v.isTensorList()) {
    auto l = v.toTensorList();
    return std::vector<at::Tensor>(l.begin(), l.end());
  }
  if (v.isList() || v.isTuple()) {
    std::vector<at::Tensor> r;
    auto elements = v.isList() ? v.toListRef().vec() : v.toTupleRef().elements().vec();
    for (const auto& e : elements) {
      if (!e.isTensor()) {
        throw std::invalid_argument(std::string(what) + " holds a " + e.tagKind() + ", not only tensors");
      }
      r.push_back(e.toTensor());
    }
    return r;
  }
  throw std::invalid_argument(std::string(what) + " is a " + v.tagKind() + ", not a tensor or a list of tensors");
}

// The data pointers of a fixed argument's tensors (none for a value that holds no tensor).
std::vector<const void*> data_of(const torch::IValue& v) {
  std::vector<const void*> r;
  if (v.isTensor() || v.isTensorList() || v.isList() || v.isTuple()) {
    for (const auto& t : tensors_of(v, "a fixed argument")) {
      r.push_back(t.data_ptr());
    }
  }
  return r;
}

std::vector<torch::IValue> read_args(JNIEnv* env, jlongArray jargs) {
  jsize n = env->GetArrayLength(jargs);
  std::vector<jlong> handles(n);
  env->GetLongArrayRegion(jargs, 0, n, handles.data());
  std::vector<torch::IValue> args;
  args.reserve(n);
  for (jlong h : handles) {
    args.push_back(*reinterpret_cast<torch::IValue*>(h));
  }
  return args;
}

void throw_java(JNIEnv* env, const std::string& message) {
  jclass c = env->FindClass("java/lang/IllegalStateException");
  env->ThrowNew(c, message.c_str());
}

}  // namespace

extern "C" {

// Captures module.method(args): warms up `warmups` times on the capture stream (cuDNN plans, cuBLAS workspaces and
// lazy kernel loads must happen outside a capture), then records one call into the memory pool of the graph
// `share_with` (0: a new pool). Returns the graph's handle; nothing runs yet.
JNIEXPORT jlong JNICALL Java_dev_jdiffuse_models_nn_CudaGraphNative_capture(JNIEnv* env, jclass, jlong module_handle,
    jstring jmethod, jlongArray jargs, jbooleanArray jvarying, jint warmups, jlong share_with) {
  try {
    auto* module = reinterpret_cast<torch::jit::script::Module*>(module_handle);
    const char* chars = env->GetStringUTFChars(jmethod, nullptr);
    std::string method_name(chars);
    env->ReleaseStringUTFChars(jmethod, chars);
    std::vector<torch::IValue> given = read_args(env, jargs);
    jsize n = env->GetArrayLength(jvarying);
    if (n != static_cast<jsize>(given.size())) {
      throw std::invalid_argument("varying has " + std::to_string(n) + " entries for " +
                                  std::to_string(given.size()) + " arguments");
    }
    std::vector<jboolean> varying(n);
    env->GetBooleanArrayRegion(jvarying, 0, n, varying.data());

    c10::InferenceMode inference;  // as DJL's moduleRunMethod (JITCallGuard)
    auto c = std::make_unique<Captured>();
    bool found = false;
    for (jsize i = 0; i < n && !found; i++) {
      if (varying[i]) {
        for (const auto& t : tensors_of(given[i], "a varying argument")) {
          if (t.is_cuda()) {
            c->device = t.device();
            found = true;
            break;
          }
        }
      }
    }
    if (!found) {
      throw std::invalid_argument("no varying argument holds a CUDA tensor");
    }
    c10::cuda::CUDAGuard device_guard(c->device);
    auto caller = c10::cuda::getCurrentCUDAStream(c->device.index());
    auto side = capture_stream(c->device.index());
    at::cuda::CUDAEvent inputs_ready;
    inputs_ready.record(caller);
    inputs_ready.block(side);
    {
      c10::cuda::CUDAStreamGuard stream_guard(side);
      c->statics.resize(n);
      c->fixed.resize(n);
      for (jsize i = 0; i < n; i++) {
        if (!varying[i]) {
          c->args.push_back(given[i]);
          c->fixed[i] = data_of(given[i]);
          continue;
        }
        // on the graph's device: a host input (the UNet's time features) is copied over before each replay, as a
        // capture cannot record a copy from pageable host memory
        for (const auto& t : tensors_of(given[i], "a varying argument")) {
          c->statics[i].push_back(t.device() == c->device ? t.clone() : t.to(c->device));
        }
        if (given[i].isTensor()) {
          c->args.emplace_back(c->statics[i][0]);
        } else {
          c->args.emplace_back(c10::List<at::Tensor>(c->statics[i]));
        }
      }
      torch::jit::Method method = module->get_method(method_name);
      for (int w = 0; w < warmups; w++) {
        method(c->args);
      }
      // a pool lives while a graph of it does: sharing a live graph's pool, never a remembered id, so a cache that
      // released all its graphs starts a new one (reusing a dead pool's id fails in create_or_incref_pool)
      at::cuda::MempoolId_t pool = share_with != 0 ? reinterpret_cast<Captured*>(share_with)->graph->pool()
                                                   : at::cuda::MempoolId_t{0, 0};
      c->graph = std::make_unique<at::cuda::CUDAGraph>();
      // thread-local: work other threads queue meanwhile (text encoders, decodes) is neither captured nor refused
      c->graph->capture_begin(pool, cudaStreamCaptureModeThreadLocal);
      torch::IValue out;
      try {
        out = method(c->args);
      } catch (...) {
        try {
          c->graph->capture_end();
        } catch (...) {
        }
        throw;
      }
      c->graph->capture_end();
      c->outputs = tensors_of(out, "the method's result");
    }
    at::cuda::CUDAEvent captured;
    captured.record(side);
    captured.block(caller);
    return reinterpret_cast<jlong>(c.release());
  } catch (const std::exception& e) {
    throw_java(env, std::string("CUDA graph capture failed: ") + e.what());
    return 0;
  } catch (...) {  // nothing may cross JNI: the JVM would terminate
    throw_java(env, "CUDA graph capture failed: an exception of unknown type");
    return 0;
  }
}

// Copies the varying arguments of `args` (same arity, shapes and dtypes as at capture) into the graph's static
// buffers, replays it on the caller's current stream and returns tensor handles of clones of its outputs.
JNIEXPORT jlongArray JNICALL Java_dev_jdiffuse_models_nn_CudaGraphNative_replay(JNIEnv* env, jclass, jlong handle,
    jlongArray jargs) {
  try {
    auto* c = reinterpret_cast<Captured*>(handle);
    std::vector<torch::IValue> given = read_args(env, jargs);
    if (given.size() != c->statics.size()) {
      throw std::invalid_argument(std::to_string(given.size()) + " arguments for a graph captured with " +
                                  std::to_string(c->statics.size()));
    }
    c10::InferenceMode inference;
    c10::cuda::CUDAGuard device_guard(c->device);
    for (size_t i = 0; i < given.size(); i++) {
      auto& statics = c->statics[i];
      if (statics.empty()) {
        // the graph reads a fixed argument where it was at capture: other tensors here (other weights) would be
        // silently ignored, so they are refused
        if (data_of(given[i]) != c->fixed[i]) {
          throw std::invalid_argument("fixed argument " + std::to_string(i) + " holds other tensors than at capture");
        }
        continue;
      }
      auto ts = tensors_of(given[i], "a varying argument");
      if (ts.size() != statics.size()) {
        throw std::invalid_argument("argument " + std::to_string(i) + " has " + std::to_string(ts.size()) +
                                    " tensors, captured with " + std::to_string(statics.size()));
      }
      for (size_t j = 0; j < ts.size(); j++) {
        if (ts[j].sizes() != statics[j].sizes() || ts[j].scalar_type() != statics[j].scalar_type()) {
          throw std::invalid_argument("argument " + std::to_string(i) + " tensor " + std::to_string(j) +
                                      " differs in shape or dtype from the capture");
        }
        if (ts[j].is_cpu() && !ts[j].is_pinned()) {
          // through pinned memory (PyTorch's caching host allocator), so that the copy is queued, not waited for:
          // from pageable memory the host would wait for the GPU to finish the previous forward
          statics[j].copy_(ts[j].pin_memory(), true);
        } else {
          statics[j].copy_(ts[j], true);
        }
      }
    }
    c->graph->replay();
    jlongArray result = env->NewLongArray(static_cast<jsize>(c->outputs.size()));
    std::vector<jlong> handles;
    for (const auto& o : c->outputs) {
      handles.push_back(reinterpret_cast<jlong>(new torch::Tensor(o.clone())));
    }
    env->SetLongArrayRegion(result, 0, static_cast<jsize>(handles.size()), handles.data());
    return result;
  } catch (const std::exception& e) {
    throw_java(env, std::string("CUDA graph replay failed: ") + e.what());
    return nullptr;
  } catch (...) {
    throw_java(env, "CUDA graph replay failed: an exception of unknown type");
    return nullptr;
  }
}

// Frees the graph, its static buffers and its hold on the fixed arguments.
JNIEXPORT void JNICALL Java_dev_jdiffuse_models_nn_CudaGraphNative_release(JNIEnv*, jclass, jlong handle) {
  delete reinterpret_cast<Captured*>(handle);
}

}  // extern "C"
