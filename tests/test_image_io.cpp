// Image and array files: .npy round trips and the header numpy expects, malformed .npy files, and
// PNG grids and strips decoded back with stb_image.
#include <stb/stb_image.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "diffusion/image_io.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace ddpm;
using ddpm::test::check_throws_with;
using ddpm::test::check_throws_with_all;
using TempDir = ddpm::test::TempDir;

namespace {


std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A .npy file by hand: version (major, 0), the header text as given (padded to 64 bytes), then data.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  const size_t prelude = major == 1 ? 10 : 12;
  std::string header = dict;
  header.append((64 - (prelude + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string b = "\x93NUMPY";
  b += char(major);
  b += char(0);
  b += char(header.size() & 0xFF);
  b += char((header.size() >> 8) & 0xFF);
  if (major > 1) b += std::string(2, '\0');
  return b + header + data;
}

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A decoded PNG: w x h pixels of `comp` channels.
struct Png {
  int w = 0, h = 0, comp = 0;
  std::vector<unsigned char> px;
  int at(int x, int y, int c = 0) const { return px[size_t((y * w + x) * comp + c)]; }
};
Png read_png(const std::string& path) {
  Png png;
  unsigned char* data = stbi_load(path.c_str(), &png.w, &png.h, &png.comp, 0);
  REQUIRE_MESSAGE(data != nullptr, "stb_image cannot decode ", path);
  png.px.assign(data, data + size_t(png.w * png.h * png.comp));
  stbi_image_free(data);
  return png;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("npy round trip keeps shape and values") {
  TempDir dir;
  for (const Shape& shape : {Shape{2, 3, 4}, Shape{5}, Shape{1, 1, 2, 3}, Shape{}, Shape{0, 3}}) {
    CAPTURE(shape_str(shape));
    Tensor x = randn(shape);
    save_npy(dir.file("x.npy"), x);
    Tensor y = load_npy(dir.file("x.npy"));
    CHECK(y.dtype() == DType::Float32);
    CHECK(y.shape() == shape);
    CHECK(y.to_vector<float>() == x.to_vector<float>());
  }
  // float64 and non-contiguous tensors are written as float32 in C order.
  Tensor d = ops::transpose(tensor({1.5, 2.5, 3.5, 4.5, 5.5, 6.5}, {2, 3}, DType::Float64), 0, 1);
  save_npy(dir.file("d.npy"), d);
  ddpm::test::check_values(load_npy(dir.file("d.npy")), {1.5, 4.5, 2.5, 5.5, 3.5, 6.5});
  std::vector<std::string> names = dir.names();  // no temporary file left behind
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"d.npy", "x.npy"});
}

TEST_CASE("npy header is the numpy format 1.0 layout") {
  TempDir dir;
  save_npy(dir.file("a.npy"), zeros({2, 3}));
  save_npy(dir.file("b.npy"), zeros({5}));
  for (const auto& [name, shape] : {std::pair<std::string, std::string>{"a.npy", "'shape': (2, 3)"},
                                    std::pair<std::string, std::string>{"b.npy", "'shape': (5,)"}}) {
    CAPTURE(name);
    const std::string bytes = read_all(dir.file(name));
    REQUIRE(bytes.size() > 10);
    CHECK(bytes.compare(0, 6, "\x93NUMPY") == 0);
    CHECK(bytes[6] == 1);
    CHECK(bytes[7] == 0);
    const size_t header_len = size_t((unsigned char)bytes[8]) | (size_t((unsigned char)bytes[9]) << 8);
    CHECK((10 + header_len) % 64 == 0);
    const std::string header = bytes.substr(10, header_len);
    CHECK(header.find("'descr': '<f4'") != std::string::npos);
    CHECK(header.find("'fortran_order': False") != std::string::npos);
    CHECK(header.find(shape) != std::string::npos);
    CHECK(header.back() == '\n');
    CHECK(bytes.size() == 10 + header_len + (name == "a.npy" ? 6u : 5u) * 4);
  }
}

TEST_CASE("load_npy reads float64 and format 2.0 files") {
  TempDir dir;
  write_raw(dir.file("f8.npy"),
            npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", bytes_of<double>({0.25, -2, 7})));
  Tensor x = load_npy(dir.file("f8.npy"));
  CHECK(x.dtype() == DType::Float32);
  ddpm::test::check_values(x, {0.25, -2, 7});

  write_raw(dir.file("v2.npy"), npy_bytes("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 1), }",
                                          bytes_of<float>({1, 2}), 2));
  Tensor y = load_npy(dir.file("v2.npy"));
  CHECK(y.shape() == Shape{2, 1});
  ddpm::test::check_values(y, {1, 2});
}

TEST_CASE("load_npy rejects unsupported files with the file name") {
  TempDir dir;
  auto rejects = [&](const std::string& name, const std::string& bytes, const std::string& what) {
    CAPTURE(name);
    write_raw(dir.file(name), bytes);
    check_throws_with_all<std::runtime_error>([&] { load_npy(dir.file(name)); }, {dir.file(name), what});
  };
  rejects("int.npy", npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", bytes_of<int64_t>({1, 2})),
          "'<i8' is not supported");
  rejects("big.npy", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", bytes_of<float>({1})),
          "'>f4'");
  rejects("fortran.npy", npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }", bytes_of<float>({1, 2})),
          "fortran_order is True");
  rejects("short.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", bytes_of<float>({1, 2})),
          "truncated");
  rejects("long.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", bytes_of<float>({1, 2})),
          "wrong size");
  rejects("noshape.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, }", ""), "no 'shape' entry");
  rejects("badshape.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", ""), "'x'");
  rejects("magic.npy", "PK\x03\x04 this is a zip file", "not a .npy file");
  rejects("version.npy", std::string("\x93NUMPY\x09\x00\x10\x00{}", 12), "format version 9.0");
  rejects("header.npy", std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17), "runs past the end");
  rejects("sevendims.npy",
          npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1), }", bytes_of<float>({1})),
          "7 dims");
  // One zero-sized dim beside huge ones: 0 bytes of data, but strides beyond int64.
  rejects("zerohuge.npy",
          npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 99999999999999, 99999999999999), }", ""),
          "more than 2^48 elements");
  rejects("huge.npy",
          npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (999999999999999, 999999999999999), }", ""),
          "more than 2^48 elements");
  check_throws_with_all<std::runtime_error>([&] { load_npy(dir.file("absent.npy")); }, {"absent.npy", "no such file"});
}

TEST_CASE("save_image_grid writes a PNG of the expected layout") {
  TempDir dir;
  // 5 grey tiles 4 high, 6 wide -> 3 columns, 2 rows; padding 2: 3*6 + 4*2 = 26 by 2*4 + 3*2 = 14.
  Tensor images = zeros({5, 1, 4, 6});
  ops::select(images, 0, 0).fill_(1.0);    // white
  ops::select(images, 0, 1).fill_(-1.0);   // black
  ops::select(images, 0, 2).fill_(5.0);    // clamped to white
  ops::select(images, 0, 3).fill_(0.0);    // 127.5 rounds to 128
  ops::select(images, 0, 4).fill_(-0.5);   // 63.75 -> 64
  save_image_grid(dir.file("grid.png"), images);
  Png png = read_png(dir.file("grid.png"));
  CHECK(png.w == 26);
  CHECK(png.h == 14);
  CHECK(png.comp == 1);
  CHECK(png.at(0, 0) == 128);    // padding
  CHECK(png.at(2, 2) == 255);    // tile 0
  CHECK(png.at(7, 5) == 255);
  CHECK(png.at(10, 2) == 0);     // tile 1 starts at x = 2 + 6 + 2
  CHECK(png.at(18, 2) == 255);   // tile 2
  CHECK(png.at(2, 8) == 128);    // tile 3, second row (y = 2 + 4 + 2)
  CHECK(png.at(10, 8) == 64);    // tile 4
  CHECK(png.at(18, 8) == 128);   // no tile 5: background
  CHECK(png.at(8, 2) == 128);    // the gap between tiles 0 and 1

  // RGB, 2 columns, no padding, on a float64 tensor.
  Tensor rgb = full({3, 3, 2, 2}, -1.0, DType::Float64);
  ops::select(ops::select(rgb, 0, 1), 0, 2).fill_(1.0);  // image 1 blue
  save_image_grid(dir.file("rgb.png"), rgb, 2, 0);
  Png color = read_png(dir.file("rgb.png"));
  CHECK(color.w == 4);
  CHECK(color.h == 4);
  CHECK(color.comp == 3);
  CHECK(color.at(2, 0, 2) == 255);
  CHECK(color.at(2, 0, 0) == 0);
  CHECK(color.at(0, 0, 2) == 0);
  CHECK(color.at(3, 3, 0) == 128);  // the empty fourth tile
  for (const std::string& name : dir.names()) CHECK(name.find(".tmp.") == std::string::npos);
}

TEST_CASE("save_image_strip puts each sample on a row") {
  TempDir dir;
  // 3 frames of 2 samples 4x4; sample i of frame j is filled with -1 + 0.25 * (3i + j), all distinct.
  std::vector<Tensor> frames;
  for (int j = 0; j < 3; ++j) {
    Tensor f = empty({2, 1, 4, 4});
    for (int i = 0; i < 2; ++i) ops::select(f, 0, i).fill_(-1.0 + 0.25 * (3 * i + j));
    frames.push_back(f);
  }
  save_image_strip(dir.file("strip.png"), frames, 1);
  Png png = read_png(dir.file("strip.png"));
  CHECK(png.w == 3 * 4 + 4 * 1);
  CHECK(png.h == 2 * 4 + 3 * 1);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      CAPTURE(i);
      CAPTURE(j);
      const double x = -1.0 + 0.25 * (3 * i + j);
      CHECK(png.at(1 + j * 5, 1 + i * 5) == int(std::lround((x + 1) * 127.5)));
    }
  check_throws_with<std::invalid_argument>([&] { save_image_strip(dir.file("s.png"), {}); }, "no frames");
  check_throws_with<std::invalid_argument>(
      [&] { save_image_strip(dir.file("s.png"), {zeros({2, 1, 4, 4}), zeros({3, 1, 4, 4})}); }, "frame 1");
}

TEST_CASE("save_image_grid rejects bad input") {
  TempDir dir;
  check_throws_with<std::invalid_argument>([&] { save_image_grid(dir.file("a.png"), zeros({2, 4, 4})); }, "[N, C, H, W]");
  check_throws_with<std::invalid_argument>([&] { save_image_grid(dir.file("a.png"), zeros({2, 2, 4, 4})); }, "C = 1 or 3");
  check_throws_with<std::invalid_argument>(
      [&] { save_image_grid(dir.file("a.png"), zeros({2, 1, 4, 4}, DType::Int64)); }, "floating dtype");
  check_throws_with<std::invalid_argument>([&] { save_image_grid(dir.file("a.png"), zeros({0, 1, 4, 4})); }, "no pixels");
  check_throws_with<std::invalid_argument>([&] { save_image_grid(dir.file("a.png"), zeros({2, 1, 4, 4}), -1); }, "ncols");
  check_throws_with<std::invalid_argument>([&] { save_image_grid(dir.file("a.png"), zeros({2, 1, 4, 4}), 0, -2); }, "padding");
  const std::string nowhere = dir.file("no_such_dir/grid.png");
  check_throws_with_all<std::runtime_error>([&] { save_image_grid(nowhere, zeros({2, 1, 4, 4})); }, {nowhere, "cannot create"});
  check_throws_with<std::runtime_error>([&] { save_npy(dir.file("no_such_dir/x.npy"), zeros({2})); }, "no_such_dir");
  CHECK(dir.names().empty());
}

}  // TEST_SUITE("cpu")
