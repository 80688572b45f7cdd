// Training data: IDX and image-folder loaders, padding, and the deterministic prefetching BatchLoader
// (see data.hpp for the contracts).
#include "diffusion/data.hpp"

#include "diffusion/image_io.hpp"

#include <stb/stb_image.h>  // declarations only: the implementation is Debian's libstb
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "tensor/macros.hpp"
#include "tensor/ops.hpp"
#include "tensor/philox.hpp"

namespace ddpm {

namespace fs = std::filesystem;

namespace {

// Pixel byte -> float in [-1, 1]: p / 127.5 - 1, so 0 -> -1 and 255 -> 1 exactly.
struct PixelTable {
  float value[256];
  PixelTable() {
    for (int p = 0; p < 256; ++p) value[p] = float(double(p) / 127.5 - 1.0);
  }
};
const PixelTable kPixel;

// ---- IDX files -------------------------------------------------------------------------------------
// Layout (big-endian): 0x00 0x00, a type code (0x08 = unsigned byte), the number of dims, one uint32
// per dim, then the elements in row-major order. Fashion-MNIST images: 3 dims [N, 28, 28].

[[noreturn]] void idx_fail(const std::string& path, const std::string& what, const char* op = "load_idx_images") {
  throw std::runtime_error(std::string(op) + ": '" + path + "': " + what);
}

const char* idx_type_name(unsigned code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

// Reads a gzip file or, through the same calls, a plain one: zlib passes data without a gzip header
// through unchanged.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) idx_fail(path, std::string("cannot open it: ") + std::strerror(errno));
    gzbuffer(file_, 1 << 18);
  }
  ~GzFile() { gzclose(file_); }
  // True when the file is not gzip-compressed (known once something has been read).
  bool is_plain() { return gzdirect(file_) == 1; }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes into dst and returns how many it got (fewer only at the end of the data).
  size_t read(void* dst, size_t n) {
    size_t got = 0;
    while (got < n) {
      unsigned chunk = unsigned(std::min<size_t>(n - got, size_t(1) << 30));
      int r = gzread(file_, static_cast<char*>(dst) + got, chunk);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        idx_fail(path_, std::string("cannot decompress it: ") + (msg ? msg : "zlib error"));
      }
      if (r == 0) break;
      got += size_t(r);
    }
    return got;
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

// ---- Resizing (image folders) ------------------------------------------------------------------
// Antialiased linear interpolation, as PIL's BILINEAR: output sample j of a signal resized from
// `in` to `out` samples averages the input under a triangle centred on j's position in the input,
// one output pixel wide on each side (so 1 / scale input pixels when shrinking: no aliasing).
// Taps for output positions first .. first + count - 1 (the crop window), as (input index, weight).
std::vector<std::vector<std::pair<int, float>>> resize_taps(int in, int out, int first, int count) {
  const double scale = double(out) / double(in);
  const double support = scale < 1.0 ? 1.0 / scale : 1.0;  // half-width of the triangle, input pixels
  std::vector<std::vector<std::pair<int, float>>> taps(static_cast<size_t>(count));
  for (int j = 0; j < count; ++j) {
    const double center = (double(first + j) + 0.5) / scale;  // in input pixel coordinates
    int lo = std::max(0, int(std::floor(center - support)));
    int hi = std::min(in - 1, int(std::ceil(center + support)));
    double total = 0;
    for (int i = lo; i <= hi; ++i) {
      double w = 1.0 - std::fabs((double(i) + 0.5 - center) / support);
      if (w > 0) {
        taps[size_t(j)].push_back({i, float(w)});
        total += w;
      }
    }
    if (total <= 0) {  // cannot happen for in >= 1, but never divide by zero
      taps[size_t(j)] = {{std::clamp(int(center), 0, in - 1), 1.0f}};
      total = 1;
    }
    for (auto& tap : taps[size_t(j)]) tap.second = float(tap.second / total);
  }
  return taps;
}

// pixels: [h, w, c] bytes -> out: [c, size, size] floats in [-1, 1] (bytes / 127.5 - 1). The short
// side is resized to `size`, the long side keeps the aspect ratio, then the center square is kept.
void resize_center_crop(const unsigned char* pixels, int w, int h, int c, int size, float* out) {
  int rw = size, rh = size;  // the resized (uncropped) image
  if (w <= h) rh = std::max(size, int(std::lround(double(h) * size / w)));
  else rw = std::max(size, int(std::lround(double(w) * size / h)));
  const auto xtaps = resize_taps(w, rw, (rw - size) / 2, size);
  const auto ytaps = resize_taps(h, rh, (rh - size) / 2, size);

  // Rows first: tmp [h, size, c], then columns into out.
  std::vector<float> tmp(size_t(h) * size_t(size) * size_t(c));
  for (int y = 0; y < h; ++y) {
    const unsigned char* row = pixels + size_t(y) * size_t(w) * size_t(c);
    for (int x = 0; x < size; ++x) {
      float* dst = &tmp[(size_t(y) * size_t(size) + size_t(x)) * size_t(c)];
      for (int ch = 0; ch < c; ++ch) dst[ch] = 0;
      for (const auto& [i, wt] : xtaps[size_t(x)])
        for (int ch = 0; ch < c; ++ch) dst[ch] += wt * float(row[size_t(i) * size_t(c) + size_t(ch)]);
    }
  }
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      for (int ch = 0; ch < c; ++ch) {
        float v = 0;
        for (const auto& [i, wt] : ytaps[size_t(y)])
          v += wt * tmp[(size_t(i) * size_t(size) + size_t(x)) * size_t(c) + size_t(ch)];
        // Rounded to a byte, as an image editor would store it: the values are then the same
        // 256 levels as IDX data, and a flat region stays exactly flat.
        const int byte = std::clamp(int(std::lround(v)), 0, 255);
        out[(size_t(ch) * size_t(size) + size_t(y)) * size_t(size) + size_t(x)] = kPixel.value[byte];
      }
    }
  }
}

bool is_image_file_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// ---- Shuffling ----------------------------------------------------------------------------------
// Philox streams of our own, apart from the tensor generators' (which use counter words c2 = c3 = 0):
// c3 names the stream, so the data order never correlates with the noise drawn from the same seed.
constexpr uint32_t kPermutationStream = 0x5045524Du;  // "PERM"
constexpr uint32_t kFlipStream = 0x464C4950u;         // "FLIP"
constexpr uint32_t kDropStream = 0x44524F50u;         // "DROP"

}  // namespace

// ---- Loaders ---------------------------------------------------------------------------------------

Tensor load_idx_images(const std::string& path, int64_t pad_to) {
  DDPM_CHECK(pad_to >= 0, "load_idx_images: pad_to must be >= 0 (0: no padding), got ", pad_to);
  std::error_code ec;
  if (!fs::exists(path, ec)) idx_fail(path, "no such file");
  if (!fs::is_regular_file(path, ec)) idx_fail(path, "not a regular file");
  const uint64_t file_size = fs::file_size(path, ec);
  if (ec) idx_fail(path, "cannot get its size: " + ec.message());
  GzFile file(path);

  unsigned char head[4];
  size_t got = file.read(head, 4);
  if (got < 4) idx_fail(path, "truncated: " + std::to_string(got) + " bytes, too few for the 4-byte IDX header");
  if (head[0] != 0 || head[1] != 0) {
    char hex[64];
    std::snprintf(hex, sizeof hex, "0x%02X 0x%02X 0x%02X 0x%02X", head[0], head[1], head[2], head[3]);
    idx_fail(path, std::string("bad magic ") + hex +
                       " (not an IDX file: one starts with 0x00 0x00, a type code and the number of dims)");
  }
  if (head[2] != 0x08) {
    char code[8];
    std::snprintf(code, sizeof code, "0x%02X", head[2]);
    idx_fail(path, std::string("element type code ") + code + " (" + idx_type_name(head[2]) +
                       ") is not supported; images must be 0x08 (unsigned byte)");
  }
  const int ndims = head[3];
  if (ndims != 3 && ndims != 4)
    idx_fail(path, "has " + std::to_string(ndims) + " dims, expected 3 [N, H, W] or 4 [N, H, W, C]" +
                       (ndims == 1 ? " (is this a labels file?)" : ""));

  unsigned char dim_bytes[16];
  got = file.read(dim_bytes, size_t(4 * ndims));
  if (got < size_t(4 * ndims)) idx_fail(path, "truncated in the header (the dims)");
  Shape dims(static_cast<size_t>(ndims));
  for (int d = 0; d < ndims; ++d) {
    const unsigned char* b = dim_bytes + 4 * d;
    dims[size_t(d)] = int64_t((uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3]);
  }
  // The one shape check first: the dims are each below 2^32, but their product can pass 2^64.
  const std::string problem = shape_problem(dims);
  if (!problem.empty()) idx_fail(path, "the header's dims " + shape_str(dims) + " " + problem);
  const int64_t n = dims[0], h = dims[1], w = dims[2], c = ndims == 4 ? dims[3] : 1;
  if (n == 0) idx_fail(path, "holds no images (N = 0)");
  if (h == 0 || w == 0) idx_fail(path, "images of size " + std::to_string(h) + "x" + std::to_string(w) + " are empty");
  if (c != 1 && c != 3) idx_fail(path, "images have " + std::to_string(c) + " channels, expected 1 or 3");
  if (pad_to > 0 && (pad_to < h || pad_to < w))
    throw std::invalid_argument("load_idx_images: '" + path + "' holds " + std::to_string(h) + "x" +
                                std::to_string(w) + " images, larger than the image size " + std::to_string(pad_to) +
                                " (IDX images are padded, never shrunk)");

  // Check the pixel count against the file before allocating for it, so that a damaged header cannot
  // ask for terabytes: a plain file must hold exactly header + pixels, and deflate never compresses
  // better than about 1032:1. (shape_problem bounded the product of the dims by 2^48.)
  const uint64_t header_bytes = 4 + 4 * uint64_t(ndims);
  const uint64_t image_bytes = uint64_t(h) * uint64_t(w) * uint64_t(c);
  const uint64_t limit = std::max<uint64_t>(file_size, 1) * 1100;
  const bool too_many = uint64_t(n) > limit / image_bytes;
  const uint64_t total = too_many ? 0 : uint64_t(n) * image_bytes;
  const std::string promise = "the header promises " + shape_str(dims) + " = " +
                              (too_many ? "too many" : std::to_string(total)) + " bytes of pixels";
  if (too_many) idx_fail(path, "truncated: " + promise + ", more than a " + std::to_string(file_size) + "-byte file can hold");
  if (file.is_plain() && file_size != header_bytes + total)
    idx_fail(path, std::string(file_size < header_bytes + total ? "truncated" : "has data after the pixels") + ": " +
                       promise + ", the file holds " + std::to_string(file_size - header_bytes) +
                       " after the header");

  // Decode a few thousand images at a time into their place in the output ([N, H, W, C] bytes ->
  // [N, C, S, S] floats, centered, with a -1 border when padding): no second full-size copy.
  const int64_t out_h = std::max(h, pad_to), out_w = std::max(w, pad_to);
  const int64_t top = (out_h - h) / 2, left = (out_w - w) / 2;
  Tensor out = Tensor::empty({n, c, out_h, out_w});
  float* dst = out.data<float>();
  const int64_t per_chunk = std::max<int64_t>(1, int64_t((uint64_t(4) << 20) / image_bytes));
  std::vector<unsigned char> chunk(size_t(std::min(n, per_chunk) * int64_t(image_bytes)));
  for (int64_t first = 0; first < n; first += per_chunk) {
    const int64_t count = std::min(per_chunk, n - first);
    const size_t want = size_t(count) * size_t(image_bytes);
    const size_t r = file.read(chunk.data(), want);
    if (r < want)
      idx_fail(path, "truncated: " + promise + ", the file holds " +
                         std::to_string(uint64_t(first) * image_bytes + r));
    for (int64_t i = 0; i < count; ++i) {
      const unsigned char* src = chunk.data() + size_t(i) * size_t(image_bytes);  // [H, W, C]
      float* img = dst + (first + i) * c * out_h * out_w;                          // [C, S, S]
      if (out_h != h || out_w != w) std::fill(img, img + c * out_h * out_w, -1.0f);
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t y = 0; y < h; ++y) {
          float* row = img + (ch * out_h + top + y) * out_w + left;
          const unsigned char* src_row = src + y * w * c + ch;
          for (int64_t x = 0; x < w; ++x) row[x] = kPixel.value[src_row[x * c]];
        }
    }
  }
  unsigned char extra;
  if (file.read(&extra, 1) != 0)
    idx_fail(path, "has data after the pixels: " + promise + " (wrong dims in the header?)");
  return out;
}

Tensor pad_images(const Tensor& images, int64_t size) {
  DDPM_CHECK(images.defined(), "pad_images: images is undefined");
  DDPM_CHECK(images.dim() == 4, "pad_images: images must be [N, C, H, W], got ", describe(images));
  const int64_t h = images.size(2), w = images.size(3);
  DDPM_CHECK(size >= h && size >= w, "pad_images: size ", size, " is smaller than the images (", h, "x", w,
             "); pick a size of at least ", std::max(h, w));
  const int64_t top = (size - h) / 2, left = (size - w) / 2;
  // pads: {left, right, top, bottom}, the last dim first.
  return ops::pad(images, {left, size - w - left, top, size - h - top}, -1.0);
}

Tensor load_idx_labels(const std::string& path) {
  const char* op = "load_idx_labels";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) idx_fail(path, "no such file", op);
  const uint64_t file_size = fs::file_size(path, ec);
  GzFile file(path);
  unsigned char head[8];
  if (file.read(head, 8) < 8) idx_fail(path, "truncated: too short for the 8-byte header of IDX labels", op);
  if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] != 1)
    idx_fail(path, "not IDX unsigned-byte labels (expected the header 0x00 0x00 0x08 0x01: one dim [N]" +
                       std::string(head[3] == 3 ? "; is this an image file?)" : ")"), op);
  const uint64_t n = (uint64_t(head[4]) << 24) | (uint64_t(head[5]) << 16) | (uint64_t(head[6]) << 8) | head[7];
  if (n == 0) idx_fail(path, "holds no labels (N = 0)", op);
  if (n > std::max<uint64_t>(file_size, 1) * 1100 || (file.is_plain() && file_size != 8 + n))
    idx_fail(path, "truncated or damaged: the header promises " + std::to_string(n) + " labels, the file holds " +
                       std::to_string(file_size) + " bytes", op);
  std::vector<unsigned char> bytes(size_t(n) + 1);
  if (file.read(bytes.data(), bytes.size()) != size_t(n))
    idx_fail(path, "truncated or with data after the labels: the header promises " + std::to_string(n), op);
  Tensor out = Tensor::empty({int64_t(n)}, TensorOptions(DType::Int64));
  std::copy(bytes.begin(), bytes.end() - 1, out.data<int64_t>());
  return out;
}

namespace {

// What the first bytes say the file is: "PNG", "JPEG", or null for anything else (stb also decodes
// PNM, TGA, BMP, GIF, PSD, HDR and PIC, whatever the name; we accept only what the name promises).
const char* image_format(const std::vector<unsigned char>& bytes) {
  static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), png, 8) == 0) return "PNG";
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return "JPEG";
  return nullptr;
}

// The whole file, read once (or the reason it cannot be: missing, too large, unreadable).
std::string read_image_bytes(const std::string& file, std::vector<unsigned char>& bytes) {
  std::error_code ec;
  const uint64_t size = fs::file_size(file, ec);
  if (ec) return "cannot get its size: " + ec.message();
  if (size > kMaxImageFileBytes)
    return "the file has " + std::to_string(size) + " bytes, above the limit of " +
           std::to_string(kMaxImageFileBytes) + " for one image";
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return std::string("cannot open it: ") + std::strerror(errno);
  bytes.resize(size_t(size));
  const size_t got = size ? std::fread(bytes.data(), 1, bytes.size(), f) : 0;
  std::fclose(f);
  if (got != bytes.size()) return "could not read all of it (did the file shrink?)";
  return "";
}

// Why the header's dimensions are refused, or "" when they are fine. Checked before stb allocates:
// stb's own limit is 2^24 per side, so a 32 KB PNG of 1 x 16M pixels would otherwise be decoded.
std::string image_size_problem(const char* format, int w, int h, size_t file_bytes) {
  const std::string dims = std::to_string(w) + "x" + std::to_string(h);
  if (w < 1 || h < 1) return "the " + std::string(format) + " header says " + dims + ": an empty image";
  if (w > kMaxImageSide || h > kMaxImageSide || int64_t(w) * h > kMaxImagePixels)
    return "the image is " + dims + ", above the limit of " + std::to_string(kMaxImageSide) + " pixels a side and " +
           std::to_string(kMaxImagePixels >> 20) + " Mpx in all (shrink it first)";
  // deflate never expands more than about 1032:1, and a PNG stores at least one bit a pixel.
  if (std::strcmp(format, "PNG") == 0 && double(w) * double(h) > 8.0 * 1032.0 * double(file_bytes))
    return "the PNG header says " + dims + ", more pixels than its " + std::to_string(file_bytes) +
           " bytes can hold (a damaged or hostile file)";
  return "";
}

// Decodes one PNG/JPEG file into out ([channels, size, size] floats), resized and center-cropped; returns
// the error message, or "" when it worked (no exception: it runs inside OpenMP loops). The file is read
// once, its header checked (format, size), and only then decoded, once.
std::string decode_image(const char* op, const std::string& file, int64_t size, int64_t channels, float* out) {
  const std::string where = std::string(op) + ": '" + file + "': ";
  std::vector<unsigned char> bytes;
  std::string problem = read_image_bytes(file, bytes);
  if (!problem.empty()) return where + problem;
  const char* format = image_format(bytes);
  if (!format) return where + "cannot decode it as an image: it is neither a PNG nor a JPEG (by its first bytes)";
  if (bytes.size() > size_t(INT32_MAX)) return where + "too large";  // stb takes an int length
  int w = 0, h = 0, file_channels = 0;
  if (!stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &file_channels)) {
    const char* why = stbi_failure_reason();
    return where + "cannot decode it as an image (" + format + " header: " + (why ? why : "unknown reason") + ")";
  }
  problem = image_size_problem(format, w, h, bytes.size());
  if (!problem.empty()) return where + problem;

  int dw = 0, dh = 0;
  unsigned char* pixels =
      stbi_load_from_memory(bytes.data(), int(bytes.size()), &dw, &dh, &file_channels, int(channels));
  if (!pixels) {
    const char* why = stbi_failure_reason();
    return where + "cannot decode it as an image (" + (why ? why : "unknown reason") + ")";
  }
  std::string error;
  if (dw != w || dh != h) {  // never: the header was read by the same decoder
    error = where + "the decoded image is " + std::to_string(dw) + "x" + std::to_string(dh) + ", its header said " +
            std::to_string(w) + "x" + std::to_string(h);
  } else {
    try {
      resize_center_crop(pixels, w, h, int(channels), int(size), out);
    } catch (const std::exception& e) {  // only bad_alloc can come from here
      error = where + e.what();
    }
  }
  stbi_image_free(pixels);
  return error;
}

}  // namespace

Tensor load_image_file(const std::string& path, int64_t size, int64_t channels) {
  DDPM_CHECK(channels == 1 || channels == 3, "load_image_file: channels must be 1 or 3, got ", channels);
  DDPM_CHECK(size >= 1 && size <= kMaxImageSide, "load_image_file: size must be in [1, ", kMaxImageSide, "], got ", size);
  Tensor out = Tensor::empty({1, channels, size, size});
  const std::string error = decode_image("load_image_file", path, size, channels, out.data<float>());
  if (!error.empty()) throw std::runtime_error(error);
  return out;
}

Tensor load_image_folder(const std::string& dir, int64_t size, int64_t channels) {
  const std::string where = "load_image_folder: '" + dir + "': ";
  DDPM_CHECK(channels == 1 || channels == 3, "load_image_folder: channels must be 1 or 3, got ", channels);
  DDPM_CHECK(size >= 1 && size <= kMaxImageSide, "load_image_folder: size must be in [1, ", kMaxImageSide, "], got ",
             size);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(where + "not a directory (or it does not exist)");

  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec) && is_image_file_name(it->path())) files.push_back(it->path());
  if (ec) throw std::runtime_error(where + "cannot list it: " + ec.message());
  if (files.empty()) throw std::runtime_error(where + "holds no .png, .jpg or .jpeg images");
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename().string() < b.filename().string();
  });

  const int64_t n = int64_t(files.size());
  Tensor out = Tensor::empty({n, channels, size, size});
  float* dst = out.data<float>();
  const size_t image_floats = size_t(channels * size * size);
  // Decoding dominates; images are independent, so they decode in parallel. An exception cannot
  // leave an OpenMP region: each image records its error, and the first one is thrown after.
  std::vector<std::string> errors(files.size());
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic)
#endif
  for (int64_t i = 0; i < n; ++i)
    errors[size_t(i)] = decode_image("load_image_folder", files[size_t(i)].string(), size, channels,
                                     dst + size_t(i) * image_floats);
  for (const std::string& e : errors)
    if (!e.empty()) throw std::runtime_error(e);
  return out;
}

std::string default_fashion_mnist_path(const std::string& split) {
  if (split != "train" && split != "test")
    throw std::invalid_argument("Fashion-MNIST has the splits train and test, not '" + split + "'");
  const char* env = std::getenv("DDPM_FASHION_MNIST_DIR");
  const fs::path dir = (env && *env) ? fs::path(env) : fs::path("/usr/share/datasets/fashion-mnist");
  const std::string name = split == "train" ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte";
  const fs::path gz = dir / (name + ".gz"), raw = dir / name;
  std::error_code ec;
  if (!fs::exists(gz, ec) && fs::exists(raw, ec)) return raw.string();
  return gz.string();
}

std::string default_fashion_mnist_labels_path(const std::string& split) {
  std::string images = default_fashion_mnist_path(split);
  return images.replace(images.find("-images-"), 8, "-labels-").replace(images.find("idx3"), 4, "idx1");
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

Tensor load_dataset(const std::string& spec, int64_t size, int64_t channels) {
  DDPM_CHECK(channels == 1 || channels == 3, "load_dataset: channels must be 1 or 3, got ", channels);
  DDPM_CHECK(size >= 1, "load_dataset: size must be >= 1, got ", size);
  std::error_code ec;
  std::string idx_path;
  if (spec == "fashion-mnist") {
    idx_path = default_fashion_mnist_path();
    if (!fs::exists(idx_path, ec))
      throw std::runtime_error("load_dataset: Fashion-MNIST not found at '" + idx_path +
                               "': install the Debian package dataset-fashion-mnist, or set "
                               "DDPM_FASHION_MNIST_DIR to a folder holding train-images-idx3-ubyte.gz");
  } else if (fs::is_directory(spec, ec)) {
    return load_image_folder(spec, size, channels);
  } else if (fs::is_regular_file(spec, ec) && is_image_file_name(spec)) {
    return load_image_file(spec, size, channels);
  } else if (fs::is_regular_file(spec, ec) && fs::path(spec).extension() == ".npy") {
    Tensor images = load_npy(spec);
    if (images.dim() != 4 || images.size(1) != channels || images.size(2) != size || images.size(3) != size)
      throw std::invalid_argument("load_dataset: '" + spec + "' holds " + describe(images) + ", expected [N, " +
                                  std::to_string(channels) + ", " + std::to_string(size) + ", " +
                                  std::to_string(size) + "] in [-1, 1]");
    return images;
  } else if (fs::is_regular_file(spec, ec)) {
    idx_path = spec;
  } else {
    throw std::runtime_error("load_dataset: '" + spec +
                             "' is neither \"fashion-mnist\", an IDX file, an image, a .npy nor a folder of images "
                             "(no such file or directory)");
  }
  Tensor images = load_idx_images(idx_path, size);  // padded while decoding
  if (images.size(1) != channels)
    throw std::invalid_argument("load_dataset: '" + idx_path + "' holds " + std::to_string(images.size(1)) +
                                "-channel images, but " + std::to_string(channels) +
                                " channels were asked for");
  return images;
}

LabeledImages load_labeled_dataset(const std::string& spec, int64_t size, int64_t channels,
                                   const std::string& labels_path) {
  std::error_code ec;
  LabeledImages d;
  if (fs::is_directory(spec, ec)) {
    // class k: the k-th subfolder (sorted by name) holding images
    std::vector<fs::path> dirs;
    for (fs::directory_iterator it(spec, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory(ec)) dirs.push_back(it->path());
    std::sort(dirs.begin(), dirs.end());
    std::vector<Tensor> images, labels;
    for (const fs::path& dir : dirs) {
      bool has_images = false;
      for (fs::directory_iterator it(dir, ec), end; !ec && it != end && !has_images; it.increment(ec))
        has_images = it->is_regular_file(ec) && is_image_file_name(it->path());
      if (!has_images) continue;
      images.push_back(load_image_folder(dir.string(), size, channels));
      labels.push_back(full({images.back().size(0)}, double(d.class_names.size()), TensorOptions(DType::Int64)));
      d.class_names.push_back(dir.filename().string());
    }
    if (d.class_names.size() < 2)
      throw std::runtime_error("load_labeled_dataset: '" + spec + "' has " + std::to_string(d.class_names.size()) +
                               " subfolders with images; class labels come from subfolder names (one per class, "
                               "at least two)");
    if (!labels_path.empty())
      throw std::invalid_argument("load_labeled_dataset: a folder's labels are its subfolders; --labels is for IDX files");
    d.images = ops::cat(images, 0);
    d.labels = ops::cat(labels, 0);
    return d;
  }
  d.images = load_dataset(spec, size, channels);
  std::string path = labels_path;
  if (path.empty() && spec == "fashion-mnist") path = default_fashion_mnist_labels_path();
  if (path.empty())
    throw std::invalid_argument("load_labeled_dataset: '" + spec + "' has no labels of its own: give an IDX label "
                                "file (--labels), or use a folder with one subfolder per class");
  d.labels = load_idx_labels(path);
  if (d.labels.size(0) != d.images.size(0))
    throw std::invalid_argument("load_labeled_dataset: " + path + " holds " + std::to_string(d.labels.size(0)) +
                                " labels for the " + std::to_string(d.images.size(0)) + " images of " + spec);
  const int64_t num_classes = int64_t(ops::max(d.labels).item<int64_t>()) + 1;
  if (spec == "fashion-mnist" && labels_path.empty()) d.class_names = fashion_mnist_classes();
  else
    for (int64_t k = 0; k < num_classes; ++k) d.class_names.push_back(std::to_string(k));
  return d;
}

// ---- BatchLoader -----------------------------------------------------------------------------------

std::vector<int64_t> BatchLoader::epoch_permutation(uint64_t seed, int64_t e, int64_t n) {
  // Fisher-Yates, swap step s using the 64-bit number from words 2s and 2s + 1 of the stream
  // (seed; counter words: block index, e, kPermutationStream).
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[size_t(i)] = i;
  Philox4x32 block{};
  for (int64_t i = n - 1, s = 0; i >= 1; --i, ++s) {
    if (s % 2 == 0) {
      const uint64_t b = uint64_t(s / 2);
      block = philox4x32_10(uint32_t(b), uint32_t(b >> 32), uint32_t(uint64_t(e)), kPermutationStream,
                            uint32_t(seed), uint32_t(seed >> 32));
    }
    const int lane = int(s % 2) * 2;
    const uint64_t r = (uint64_t(block.v[lane]) << 32) | block.v[lane + 1];
    const int64_t j = int64_t(r % uint64_t(i + 1));  // bias below 2^-30 for any realistic N
    std::swap(perm[size_t(i)], perm[size_t(j)]);
  }
  return perm;
}

bool BatchLoader::flip_bit(uint64_t seed, int64_t k, int64_t i) {
  const Philox4x32 block = philox4x32_10(uint32_t(uint64_t(k)), uint32_t(uint64_t(k) >> 32), uint32_t(i / 4),
                                         kFlipStream, uint32_t(seed), uint32_t(seed >> 32));
  return (block.v[i % 4] >> 31) != 0;
}

bool BatchLoader::label_dropped(uint64_t seed, int64_t k, int64_t i, double p) {
  if (p <= 0) return false;
  const Philox4x32 block = philox4x32_10(uint32_t(uint64_t(k)), uint32_t(uint64_t(k) >> 32), uint32_t(i / 4),
                                         kDropStream, uint32_t(seed), uint32_t(seed >> 32));
  return double(block.v[i % 4]) * 0x1p-32 < p;  // a uniform in [0, 1) below p
}

Tensor BatchLoader::labels(int64_t k, double p_drop, int64_t null_label) const {
  DDPM_CHECK(labels_.defined(), "BatchLoader::labels: the loader was made without labels");
  DDPM_CHECK(k >= 0, "BatchLoader::labels: k must be >= 0, got ", k);
  const int64_t n = images_.size(0);
  Tensor out = Tensor::empty({batch_size_}, TensorOptions(DType::Int64));  // [B]
  const int64_t* src = labels_.data<int64_t>();
  int64_t* dst = out.data<int64_t>();
  std::shared_ptr<const std::vector<int64_t>> perm;
  int64_t perm_epoch = -1;
  for (int64_t i = 0; i < batch_size_; ++i) {
    const int64_t p = k * batch_size_ + i, e = p / n;  // the same image as row i of batch(k)
    if (e != perm_epoch) perm = permutation(e), perm_epoch = e;
    dst[i] = label_dropped(seed_, k, i, p_drop) ? null_label : src[(*perm)[size_t(p % n)]];
  }
  return out;
}

BatchLoader::BatchLoader(Tensor images, int64_t batch_size, uint64_t seed, bool hflip, Device device,
                         int64_t start_batch, Tensor labels)
    : batch_size_(batch_size), seed_(seed), hflip_(hflip), device_(device), next_(start_batch) {
  DDPM_CHECK(images.defined(), "BatchLoader: images is undefined");
  DDPM_CHECK(images.dim() == 4, "BatchLoader: images must be [N, C, H, W], got ", describe(images));
  DDPM_CHECK(images.size(0) >= 1, "BatchLoader: the data set is empty (", describe(images), ")");
  DDPM_CHECK(batch_size >= 1, "BatchLoader: batch_size must be >= 1, got ", batch_size);
  DDPM_CHECK(start_batch >= 0, "BatchLoader: start_batch must be >= 0, got ", start_batch);
  DDPM_CHECK(device.is_cpu() || cuda_is_available(), "BatchLoader: device ", device.str(),
             " is not available in this build or on this machine");
  images_ = images.cpu().to(DType::Float32).contiguous();  // the same tensor when already so
  if (labels.defined()) {
    DDPM_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "BatchLoader: labels are ", describe(labels),
               ", expected one per image: [", images.size(0), "]");
    labels_ = labels.cpu().to(DType::Int64).contiguous();
  }
  prefetch_index_ = next_;
  prefetch_ = std::async(std::launch::async, [this, k = next_] { return batch(k); });
}

BatchLoader::~BatchLoader() {
  if (prefetch_.valid()) prefetch_.wait();  // its exception, if any, is dropped with the future
}

std::shared_ptr<const std::vector<int64_t>> BatchLoader::permutation(int64_t e) const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  for (const auto& [epoch, perm] : cache_)
    if (epoch == e) return perm;
  auto perm = std::make_shared<const std::vector<int64_t>>(epoch_permutation(seed_, e, num_images()));
  if (cache_.size() >= 2) cache_.erase(cache_.begin());
  cache_.emplace_back(e, perm);
  return perm;
}

Tensor BatchLoader::batch(int64_t k) const {
  DDPM_CHECK(k >= 0, "BatchLoader::batch: k must be >= 0, got ", k);
  const int64_t n = images_.size(0), c = images_.size(1), h = images_.size(2), w = images_.size(3);
  const int64_t image_floats = c * h * w;
  Tensor out = Tensor::empty({batch_size_, c, h, w});  // [B, C, H, W]
  const float* src_all = images_.data<float>();
  float* dst_all = out.data<float>();

  std::shared_ptr<const std::vector<int64_t>> perm;
  int64_t perm_epoch = -1;
  for (int64_t i = 0; i < batch_size_; ++i) {
    const int64_t p = k * batch_size_ + i;  // position in the endless sample stream
    const int64_t e = p / n;
    if (e != perm_epoch) {
      perm = permutation(e);
      perm_epoch = e;
    }
    const float* src = src_all + (*perm)[size_t(p % n)] * image_floats;
    float* dst = dst_all + i * image_floats;
    if (hflip_ && flip_bit(seed_, k, i)) {
      for (int64_t row = 0; row < c * h; ++row)  // each row of each channel, mirrored
        std::reverse_copy(src + row * w, src + (row + 1) * w, dst + row * w);
    } else {
      std::memcpy(dst, src, size_t(image_floats) * sizeof(float));
    }
  }
  return out;
}

Tensor BatchLoader::next() {
  Tensor host;
  if (prefetch_.valid() && prefetch_index_ == next_) host = prefetch_.get();  // rethrows the task's exception
  else host = batch(next_);
  ++next_;
  // Batch k + 1 is gathered on another thread while the caller trains on batch k. Only host memory
  // is touched there (the CPU allocator is thread-safe); the device copy below stays on this thread.
  prefetch_index_ = next_;
  prefetch_ = std::async(std::launch::async, [this, k = next_] { return batch(k); });
  return host.to(device_);
}

}  // namespace ddpm
