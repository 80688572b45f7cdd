// safetensors reading and writing (format in safetensors.hpp). Reading checks the header completely
// before it allocates a tensor, so a damaged or hostile file costs at most its own size in memory.
#include "nn/safetensors.hpp"


#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <stdexcept>

#include "nn/atomic_file.hpp"
#include "nn/json.hpp"

// Tensor bytes are copied to and from the file as they are in memory, and the format is
// little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace ddpm {

namespace {

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypeNames[] = {
    {DType::Float32, "F32"}, {DType::Float64, "F64"}, {DType::BFloat16, "BF16"}, {DType::Float16, "F16"},
    {DType::Int32, "I32"},   {DType::Int64, "I64"},   {DType::Bool, "BOOL"},
};

bool dtype_from_name(const std::string& name, DType* dtype) {
  for (const DTypeName& d : kDTypeNames) {
    if (name == d.name) {
      *dtype = d.dtype;
      return true;
    }
  }
  return false;
}

// ---- Reading ---------------------------------------------------------------------------------------

// Every reading error names the file: "load_safetensors: 'ckpt.safetensors': header length ...".
[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("load_safetensors: '" + path + "': " + what);
}

// A JSON value in a message: the integer, the quoted string, or its kind.
std::string describe(const json::Value& v) {
  if (v.is_integer()) return std::to_string(v.integer);
  if (v.is_string()) return json::quote(v.text);
  return std::string("an ") + json::kind_name(v.kind);
}

// One tensor's header entry, checked against the data section's size.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data section
};

uint64_t non_negative(const std::string& path, const std::string& what, const json::Value& v) {
  if (!v.is_integer() || v.integer < 0)
    fail(path, what + " must be a non-negative integer, got " + describe(v));
  return uint64_t(v.integer);
}

Entry parse_entry(const std::string& path, const std::string& name, const json::Value& v, uint64_t data_size) {
  const std::string tensor = "tensor " + json::quote(name);
  if (!v.is_object()) fail(path, tensor + ": expected an object {dtype, shape, data_offsets}, got " + describe(v));
  for (const auto& [key, value] : v.members)
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(path, tensor + ": unknown field " + json::quote(key));
  const json::Value* dtype = v.find("dtype");
  const json::Value* shape = v.find("shape");
  const json::Value* offsets = v.find("data_offsets");
  if (!dtype || !shape || !offsets) fail(path, tensor + ": needs the fields dtype, shape and data_offsets");

  Entry e;
  e.name = name;
  if (!dtype->is_string()) fail(path, tensor + ": dtype must be a string, got " + describe(*dtype));
  if (!dtype_from_name(dtype->text, &e.dtype))
    fail(path, tensor + ": unknown dtype " + json::quote(dtype->text) +
                   " (this library reads F32, F64, BF16, F16, I32, I64 and BOOL)");

  if (!shape->is_array()) fail(path, tensor + ": shape must be an array, got " + describe(*shape));
  for (const json::Value& d : shape->items)
    e.shape.push_back(int64_t(non_negative(path, tensor + ": each shape entry", d)));
  // The one shape check (dims, overflow); numel times the element size then fits easily.
  const std::string problem = shape_problem(e.shape);
  if (!problem.empty()) fail(path, tensor + ": shape " + shape_str(e.shape) + " " + problem);
  const uint64_t nbytes = uint64_t(numel_of(e.shape)) * dtype_size(e.dtype);

  if (!offsets->is_array() || offsets->items.size() != 2)
    fail(path, tensor + ": data_offsets must be an array [begin, end], got " + describe(*offsets));
  e.begin = non_negative(path, tensor + ": data_offsets begin", offsets->items[0]);
  e.end = non_negative(path, tensor + ": data_offsets end", offsets->items[1]);
  const std::string range = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.begin > e.end) fail(path, tensor + ": " + range + " end before they begin");
  if (e.end > data_size)
    fail(path, tensor + ": " + range + " run past the end of the data (" + std::to_string(data_size) + " bytes)");
  if (nbytes != e.end - e.begin)
    fail(path, tensor + ": shape " + shape_str(e.shape) + " of " + safetensors_dtype_name(e.dtype) + " needs " +
                   std::to_string(nbytes) + " bytes, but " + range +
                   " hold " + std::to_string(e.end - e.begin));
  return e;
}

// The tensors must tile the data section: sorted by offset, each begins where the previous ended and
// the last ends at the end of the file.
void check_coverage(const std::string& path, std::vector<Entry>& entries, uint64_t data_size) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered)
      fail(path, "tensors " + json::quote(previous->name) + " and " + json::quote(e.name) +
                     " overlap in the data (data_offsets [" + std::to_string(previous->begin) + ", " +
                     std::to_string(previous->end) + "] and [" + std::to_string(e.begin) + ", " +
                     std::to_string(e.end) + "])");
    if (e.begin > covered)
      fail(path, "bytes [" + std::to_string(covered) + ", " + std::to_string(e.begin) +
                     ") of the data belong to no tensor (a gap before tensor " + json::quote(e.name) + ")");
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size)
    fail(path, "the tensors cover " + std::to_string(covered) + " bytes of data, but the file holds " +
                   std::to_string(data_size) + " after the header");
}

// Reads `n` bytes at `offset`, or fails naming what was being read.
void read_exactly(std::ifstream& in, const std::string& path, uint64_t offset, void* dst, uint64_t n,
                  const std::string& what) {
  if (n == 0) return;
  in.clear();
  in.seekg(std::streamoff(offset));
  in.read(static_cast<char*>(dst), std::streamsize(n));
  if (!in || uint64_t(in.gcount()) != n) fail(path, "could not read " + what + " (did the file shrink?)");
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  for (const DTypeName& d : kDTypeNames)
    if (d.dtype == dtype) return d.name;
  return "?";
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end())
    throw std::runtime_error("safetensors file '" + path + "' has no tensor " + json::quote(name));
  return it->second;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    DDPM_CHECK(t.defined(), "save_safetensors: tensor ", json::quote(name), " is undefined");
    DDPM_CHECK(name != "__metadata__", "save_safetensors: the name \"__metadata__\" is reserved for the metadata");
    DDPM_CHECK(json::is_valid_utf8(name), "save_safetensors: tensor name ", json::quote(name), " is not valid UTF-8");
    DDPM_CHECK(names.insert(name).second, "save_safetensors: two tensors are named ", json::quote(name));
    DDPM_CHECK(t.dim() <= kMaxDims, "save_safetensors: tensor ", json::quote(name), " has ", t.dim(),
               " dims, at most ", kMaxDims, " can be read back");
  }
  for (const auto& [key, value] : metadata)
    DDPM_CHECK(json::is_valid_utf8(key) && json::is_valid_utf8(value), "save_safetensors: metadata entry ",
               json::quote(key), " is not valid UTF-8");

  // Largest elements first: every offset is then a multiple of the element size at that offset.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors[a].second.element_size() > tensors[b].second.element_size();
  });

  // The header: metadata first, then the tensors in data order.
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    const char* sep = "";
    for (const auto& [key, value] : metadata) {
      header += sep + json::quote(key) + ":" + json::quote(value);
      sep = ",";
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (size_t i : order) {
    const auto& [name, t] = tensors[i];
    if (header.size() > 1) header += ",";
    header += json::quote(name) + ":{\"dtype\":\"" + safetensors_dtype_name(t.dtype()) + "\",\"shape\":[";
    for (int64_t d = 0; d < t.dim(); ++d) header += (d ? "," : "") + std::to_string(t.size(d));
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.nbytes()) + "]}";
    offset += t.nbytes();
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-byte aligned

  unsigned char length[8];
  for (int k = 0; k < 8; ++k) length[k] = static_cast<unsigned char>(uint64_t(header.size()) >> (8 * k));

  AtomicFile file("save_safetensors", path);
  file.write(length, sizeof length);
  file.write(header.data(), header.size());
  for (size_t i : order) {
    Tensor host = tensors[i].second.cpu().contiguous();  // one tensor at a time: no second copy of a model
    if (host.nbytes() > 0) file.write(host.raw_data(), host.nbytes());
  }
  file.commit();
}

SafetensorsFile load_safetensors(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, "not a regular file (or it does not exist)");
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot get its size: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open it: ") + std::strerror(errno));

  // The header length, checked against the file before anything is allocated for it.
  if (file_size < 8)
    fail(path, "the file has " + std::to_string(file_size) + " bytes, too few for the 8-byte header length");
  unsigned char length_bytes[8];
  read_exactly(in, path, 0, length_bytes, 8, "the header length");
  uint64_t header_size = 0;
  for (int k = 7; k >= 0; --k) header_size = (header_size << 8) | length_bytes[k];
  if (header_size > kSafetensorsMaxHeaderBytes)
    fail(path, "header length " + std::to_string(header_size) + " is above the limit of " +
                   std::to_string(kSafetensorsMaxHeaderBytes) + " bytes (not a safetensors file?)");
  if (header_size > file_size - 8)
    fail(path, "header length " + std::to_string(header_size) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes)");
  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;

  std::string header_text(header_size, '\0');
  read_exactly(in, path, 8, header_text.data(), header_size, "the header");
  json::Value header;
  try {
    header = json::parse(header_text);
  } catch (const json::ParseError& e) {
    fail(path, std::string("the header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "the header must be a JSON object, got " + describe(header));

  SafetensorsFile file;
  file.path = path;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.members) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail(path, "__metadata__ must be an object of strings, got " + describe(value));
      for (const auto& [key, item] : value.members) {
        if (!item.is_string())
          fail(path, "__metadata__ value " + json::quote(key) + " must be a string, got " + describe(item));
        file.metadata[key] = item.text;
      }
      continue;
    }
    entries.push_back(parse_entry(path, name, value, data_size));
  }
  check_coverage(path, entries, data_size);

  // The header is sound: every allocation below is of bytes the file really holds.
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, TensorOptions(e.dtype, Device::cpu()));
    read_exactly(in, path, data_start + e.begin, t.raw_data(), e.end - e.begin,
                 "the data of tensor " + json::quote(e.name));
    if (e.dtype == DType::Bool) {
      // Any byte but 0 and 1 would be an invalid C++ bool.
      const unsigned char* bytes = static_cast<const unsigned char*>(t.raw_data());
      for (uint64_t i = 0; i < e.end - e.begin; ++i)
        if (bytes[i] > 1)
          fail(path, "tensor " + json::quote(e.name) + ": BOOL element " + std::to_string(i) + " is " +
                         std::to_string(bytes[i]) + ", expected 0 or 1");
    }
    file.tensors.emplace(e.name, std::move(t));
  }
  return file;
}

}  // namespace ddpm
