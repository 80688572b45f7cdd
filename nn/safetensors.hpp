// Checkpoints in the safetensors format, which Hugging Face's `safetensors` and PyTorch users load
// directly. A file is:
//   8 bytes    N, the header length, a little-endian uint64
//   N bytes    a JSON object {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//              ..., "__metadata__": {"key": "value", ...}}, padded with spaces so the data that
//              follows starts at a multiple of 8 bytes
//   the rest   the tensors' bytes, row-major, little-endian; offsets count from the start of the data
//              and the tensors cover it exactly, without gaps or overlaps
//
//   save_safetensors("model.safetensors", {{"conv.weight", w}, {"conv.bias", b}}, {{"step", "1000"}});
//   SafetensorsFile ckpt = load_safetensors("model.safetensors");
//   Tensor w2 = ckpt.at("conv.weight");
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.hpp"

namespace ddpm {

// What load_safetensors read: every tensor (contiguous, on the CPU) by name, and the metadata.
struct SafetensorsFile {
  std::string path;                              // the file it came from, for messages
  std::map<std::string, Tensor> tensors;         // ordered by name
  std::map<std::string, std::string> metadata;   // the "__metadata__" string map (empty if none)

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  // The tensor called `name`; throws std::runtime_error naming the file and the tensor when absent.
  const Tensor& at(const std::string& name) const;
};

// Headers longer than this are refused before anything is allocated for them (the limit of
// Hugging Face's reader, too): a lying length must not make us allocate gigabytes.
constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// The format's name of a dtype: "F32", "F64", "BF16", "F16", "I32", "I64", "BOOL".
const char* safetensors_dtype_name(DType dtype);

// Writes `tensors` (any device and layout; each copied to a contiguous CPU tensor as it is written)
// and `metadata` to `path`, atomically: the bytes go to PATH.tmp.<pid>, are flushed to disk, and the
// temporary file is then renamed over `path`, so a reader never sees a half-written checkpoint.
// Names must be unique, valid UTF-8 and not "__metadata__", metadata valid UTF-8, and every tensor
// defined (else std::invalid_argument); an I/O failure throws std::runtime_error naming the path.
// The data is laid out by element size, largest first (in the given order among equal sizes), so
// each tensor starts at a multiple of its element size.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads a safetensors file of the dtypes above. Nothing in the file is trusted: a file that is too
// short, a header length beyond the file or above kSafetensorsMaxHeaderBytes, a header that is not
// valid JSON, an unknown dtype, a shape or offset that is not a non-negative integer, offsets that
// leave the data, overlap or leave a gap, a byte size other than numel times the dtype size, a bool
// byte other than 0 or 1, or metadata values that are not strings each throw std::runtime_error with
// a message that names the file and the problem. Memory is allocated only for what the file holds.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace ddpm
