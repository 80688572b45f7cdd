// PNG grids through stb_image_write, and .npy reading and writing (format described in image_io.hpp
// and at numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
#include "diffusion/image_io.hpp"

#include <stb/stb_image_write.h>  // declarations only: the implementation is Debian's libstb

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "nn/atomic_file.hpp"
#include "tensor/macros.hpp"
#include "tensor/ops.hpp"

// Array bytes go to and from the file as they are in memory; .npy '<f4' is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy I/O assumes a little-endian host");

namespace ddpm {

namespace {


constexpr unsigned char kGridBackground = 128;  // neutral grey between tiles

// [-1, 1] -> 0..255, rounding to nearest; NaN becomes 0.
unsigned char to_pixel(float x) {
  if (!(x >= -1.0f)) return 0;
  if (x >= 1.0f) return 255;
  return static_cast<unsigned char>(std::lround((double(x) + 1.0) * 127.5));
}

void check_images(const char* who, const Tensor& images) {
  DDPM_CHECK(images.defined(), who, ": images is undefined");
  DDPM_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), who,
             ": images must be [N, C, H, W] with C = 1 or 3, got ", describe(images));
  DDPM_CHECK(is_floating(images.dtype()), who, ": images must have a floating dtype, got ", describe(images));
  DDPM_CHECK(images.numel() > 0, who, ": no pixels to write (", describe(images), ")");
}

// ---- .npy reading helpers ---------------------------------------------------------------------------

// A header is a short dict literal (numpy writes one of under 200 bytes and reads at most 10000 by
// default): a longer one is refused before it is read, whatever length the file claims.
constexpr uint64_t kNpyMaxHeaderBytes = 1 << 20;

[[noreturn]] void npy_fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("load_npy: '" + path + "': " + what);
}

// The raw text of `key`'s value in the header's Python dict literal: a quoted string (without the
// quotes), a parenthesised tuple (with them), or a bare word such as False.
std::string dict_value(const std::string& path, const std::string& header, const std::string& key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) at = header.find("\"" + key + "\"");
  if (at == std::string::npos) npy_fail(path, "the header has no '" + key + "' entry: " + header);
  size_t i = header.find(':', at + key.size() + 2);
  if (i == std::string::npos) npy_fail(path, "the header's '" + key + "' entry has no value: " + header);
  ++i;
  while (i < header.size() && std::isspace(static_cast<unsigned char>(header[i]))) ++i;
  if (i >= header.size()) npy_fail(path, "the header ends inside the '" + key + "' entry");
  const char open = header[i];
  if (open == '\'' || open == '"') {
    size_t end = header.find(open, i + 1);
    if (end == std::string::npos) npy_fail(path, "unterminated string in the header: " + header);
    return header.substr(i + 1, end - i - 1);
  }
  if (open == '(') {
    size_t end = header.find(')', i);
    if (end == std::string::npos) npy_fail(path, "unterminated shape tuple in the header: " + header);
    return header.substr(i, end - i + 1);
  }
  size_t end = header.find_first_of(",}", i);
  std::string word = header.substr(i, end == std::string::npos ? std::string::npos : end - i);
  while (!word.empty() && std::isspace(static_cast<unsigned char>(word.back()))) word.pop_back();
  return word;
}

// "(60000, 1, 32, 32)", "(5,)", "()" -> the dims.
Shape parse_shape(const std::string& path, const std::string& tuple) {
  if (tuple.size() < 2 || tuple.front() != '(' || tuple.back() != ')')
    npy_fail(path, "shape must be a tuple, got " + tuple);
  Shape shape;
  std::string item;
  auto finish_item = [&]() {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    std::string text = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    if (!text.empty() && text.back() == 'L') text.pop_back();  // Python 2 longs
    item.clear();
    if (text.empty()) return;
    if (text.size() > 15 || !std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      npy_fail(path, "shape " + tuple + " holds '" + text + "', not a dimension size");
    shape.push_back(std::stoll(text));
  };
  for (size_t i = 1; i + 1 < tuple.size(); ++i) {
    if (tuple[i] == ',') finish_item();
    else item += tuple[i];
  }
  finish_item();
  const std::string problem = shape_problem(shape);  // the one shape check: dims, overflow
  if (!problem.empty()) npy_fail(path, "shape " + tuple + " " + problem);
  return shape;
}

}  // namespace

// ---- PNG -------------------------------------------------------------------------------------------

void save_image_grid(const std::string& path, const Tensor& images, int64_t ncols, int64_t padding) {
  check_images("save_image_grid", images);
  DDPM_CHECK(ncols >= 0, "save_image_grid: ncols must be >= 0 (0: square-ish), got ", ncols);
  DDPM_CHECK(padding >= 0, "save_image_grid: padding must be >= 0, got ", padding);
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  if (ncols == 0) ncols = std::max<int64_t>(1, int64_t(std::ceil(std::sqrt(double(n)))));
  ncols = std::min(ncols, n);
  const int64_t nrows = (n + ncols - 1) / ncols;
  const int64_t width = ncols * w + (ncols + 1) * padding, height = nrows * h + (nrows + 1) * padding;
  DDPM_CHECK(width <= 65535 && height <= 65535, "save_image_grid: the grid would be ", width, "x", height,
             " pixels, above the PNG writer's limit of 65535; write fewer images per file");

  Tensor x = images.cpu().to(DType::Float32).contiguous();  // [N, C, H, W]
  const float* src = x.data<float>();
  // canvas: [height, width, c] interleaved, as PNG stores it.
  std::vector<unsigned char> canvas(size_t(height * width * c), kGridBackground);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t top = padding + (i / ncols) * (h + padding), left = padding + (i % ncols) * (w + padding);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx)
          canvas[size_t(((top + y) * width + left + xx) * c + ch)] = to_pixel(src[((i * c + ch) * h + y) * w + xx]);
  }

  std::vector<unsigned char> png;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(context);
    out->insert(out->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
  };
  if (!stbi_write_png_to_func(append, &png, int(width), int(height), int(c), canvas.data(), int(width * c)))
    throw std::runtime_error("save_image_grid: '" + path + "': the PNG encoder failed");
  AtomicFile file("save_image_grid", path);
  file.write(png.data(), png.size());
  file.commit();
}

void save_image_strip(const std::string& path, const std::vector<Tensor>& frames, int64_t padding) {
  DDPM_CHECK(!frames.empty(), "save_image_strip: no frames");
  for (size_t j = 0; j < frames.size(); ++j) {
    check_images("save_image_strip", frames[j]);
    DDPM_CHECK(frames[j].shape() == frames[0].shape(), "save_image_strip: frame ", j, " is ", describe(frames[j]),
               " but frame 0 is ", describe(frames[0]), "; all frames must have one shape");
  }
  std::vector<Tensor> host;
  for (const Tensor& f : frames) host.push_back(f.cpu().to(DType::Float32));
  // [N, F, C, H, W] -> [N * F, C, H, W]: sample i's frames are consecutive, one grid row per sample.
  const Shape& s = frames[0].shape();
  const int64_t nframes = int64_t(frames.size());
  Tensor tiles = ops::reshape(ops::stack(host, 1), {s[0] * nframes, s[1], s[2], s[3]});
  save_image_grid(path, tiles, nframes, padding);
}

// ---- .npy --------------------------------------------------------------------------------------------

void save_npy(const std::string& path, const Tensor& x) {
  DDPM_CHECK(x.defined(), "save_npy: the tensor is undefined");
  Tensor data = x.cpu().to(DType::Float32).contiguous();

  // Python tuple syntax: "(2, 3)", "(5,)" and "()".
  std::string shape = "(";
  for (int64_t d = 0; d < data.dim(); ++d) shape += (d ? ", " : "") + std::to_string(data.size(d));
  shape += data.dim() == 1 ? ",)" : ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + header length (2) + header, padded with spaces and ending in '\n'
  // so the data starts at a multiple of 64 bytes.
  const size_t prelude = 10;
  header.append((64 - (prelude + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  DDPM_CHECK(header.size() <= 65535, "save_npy: header too long for format 1.0");

  unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                            static_cast<unsigned char>(header.size() & 0xFF),
                            static_cast<unsigned char>(header.size() >> 8)};
  AtomicFile file("save_npy", path);
  file.write(head, sizeof head);
  file.write(header.data(), header.size());
  if (data.nbytes() > 0) file.write(data.raw_data(), data.nbytes());
  file.commit();
}

Tensor load_npy(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) npy_fail(path, "no such file");
  if (!std::filesystem::is_regular_file(path, ec)) npy_fail(path, "not a regular file");
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) npy_fail(path, "cannot get its size: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) npy_fail(path, std::string("cannot open it: ") + std::strerror(errno));

  // Magic, version, then the header length: 2 bytes in format 1.x, 4 bytes in 2.x and 3.x.
  unsigned char head[12] = {};
  in.read(reinterpret_cast<char*>(head), 10);
  if (in.gcount() < 10 || std::memcmp(head, "\x93NUMPY", 6) != 0)
    npy_fail(path, "not a .npy file (it does not start with \\x93NUMPY)");
  const int major = head[6];
  if (major < 1 || major > 3)
    npy_fail(path, "format version " + std::to_string(major) + "." + std::to_string(head[7]) +
                       " is not supported (1.x, 2.x, 3.x are)");
  uint64_t header_len = uint64_t(head[8]) | (uint64_t(head[9]) << 8);
  uint64_t data_start = 10;
  if (major >= 2) {
    in.read(reinterpret_cast<char*>(head + 10), 2);
    if (in.gcount() < 2) npy_fail(path, "truncated in the header length");
    header_len |= (uint64_t(head[10]) << 16) | (uint64_t(head[11]) << 24);
    data_start = 12;
  }
  if (header_len > kNpyMaxHeaderBytes)
    npy_fail(path, "the header length " + std::to_string(header_len) + " is above the limit of " +
                       std::to_string(kNpyMaxHeaderBytes) + " bytes (numpy writes a few hundred)");
  if (header_len > file_size - data_start)
    npy_fail(path, "truncated: the header length " + std::to_string(header_len) + " runs past the end of the file (" +
                       std::to_string(file_size) + " bytes)");
  std::string header(header_len, '\0');
  in.read(header.data(), std::streamsize(header_len));
  data_start += header_len;
  while (!header.empty() && std::isspace(static_cast<unsigned char>(header.back()))) header.pop_back();

  const std::string descr = dict_value(path, header, "descr");
  const std::string fortran = dict_value(path, header, "fortran_order");
  const Shape shape = parse_shape(path, dict_value(path, header, "shape"));
  if (descr != "<f4" && descr != "<f8")
    npy_fail(path, "dtype '" + descr + "' is not supported; expected '<f4' (float32) or '<f8' (float64)");
  if (fortran != "False")
    npy_fail(path, "fortran_order is " + fortran + "; only C-order arrays (fortran_order False) are supported");

  const DType dtype = descr == "<f4" ? DType::Float32 : DType::Float64;
  const uint64_t nbytes = uint64_t(numel_of(shape)) * dtype_size(dtype);  // parse_shape bounded numel
  if (file_size - data_start != nbytes)
    npy_fail(path, std::string(file_size - data_start < nbytes ? "truncated" : "wrong size") + ": shape " +
                       shape_str(shape) + " of " + descr + " needs " + std::to_string(nbytes) + " bytes of data, the file holds " +
                       std::to_string(file_size - data_start));

  Tensor out = Tensor::empty(shape, dtype);
  in.read(static_cast<char*>(out.raw_data()), std::streamsize(nbytes));
  if (uint64_t(in.gcount()) != nbytes) npy_fail(path, "could not read the data (did the file shrink?)");
  return out.to(DType::Float32);
}

}  // namespace ddpm
